//! FSM behaviour driven by inputs alone: no sockets, no clocks.

use super::*;
use crate::wire::RouteRefreshSubtype;

const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(1, 1, 1, 1);
const REMOTE_ID: Ipv4Addr = Ipv4Addr::new(2, 2, 2, 2);

fn session() -> Session {
    Session::new(Config::new(65500, 65501, LOCAL_ID))
}

fn peer_open(asn: u32, id: Ipv4Addr, hold: u16) -> Message {
    let mut cfg = Config::new(asn, 65500, id);
    cfg.hold_time = hold;
    Message::Open(cfg.open())
}

fn sends(out: &[Output]) -> Vec<(ConnId, Message)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { conn, message } => Some((*conn, message.clone())),
            _ => None,
        })
        .collect()
}

fn notification(out: &[Output]) -> Option<Notification> {
    sends(out).into_iter().find_map(|(_, m)| match m {
        Message::Notification(n) => Some(n),
        _ => None,
    })
}

/// The (code, subcode) of the NOTIFICATION `out` sends, if it sends one.
fn notification_code(out: &[Output]) -> Option<(u8, u8)> {
    notification(out).map(|n| (n.code, n.subcode))
}

/// The ConnectRetryTimer `out` arms, if it does.
fn connect_retry_of(out: &[Output]) -> Option<Duration> {
    out.iter().find_map(|o| match o {
        Output::StartTimer(Timer::ConnectRetry, d) => Some(*d),
        _ => None,
    })
}

/// A fake clock for the timers a session arms: it applies `StartTimer` and
/// `StopTimer`, fires what is due in order, and records when the session
/// asked to connect.
#[derive(Default)]
struct Clock {
    now: Duration,
    timers: std::collections::HashMap<Timer, Duration>,
    connects: Vec<Duration>,
}

impl Clock {
    fn feed(&mut self, s: &mut Session, input: Input) -> Vec<Output> {
        let out = s.handle(input);
        for o in &out {
            match o {
                Output::StartTimer(t, d) => {
                    self.timers.insert(*t, self.now + *d);
                }
                Output::StopTimer(t) => {
                    self.timers.remove(t);
                }
                Output::Connect => self.connects.push(self.now),
                _ => {}
            }
        }
        out
    }

    /// Fires the earliest armed timer, moving the clock to it.
    fn fire_next(&mut self, s: &mut Session) -> Vec<Output> {
        let (&t, &at) = self
            .timers
            .iter()
            .min_by_key(|(_, at)| **at)
            .expect("a timer is armed");
        self.timers.remove(&t);
        self.now = at;
        self.feed(s, Input::TimerExpired(t))
    }

    /// Fires timers until the session connects; returns when that was.
    fn run_until_connect(&mut self, s: &mut Session) -> Duration {
        let before = self.connects.len();
        while self.connects.len() == before {
            self.fire_next(s);
        }
        self.now
    }
}

/// What `s` does when connection `conn` comes up.
fn connected(s: &mut Session, conn: ConnId, direction: Direction) -> Vec<Output> {
    s.handle(Input::TcpConnected { conn, direction })
}

/// What `s` does with `message` from the peer on `conn`.
fn receive(s: &mut Session, conn: ConnId, message: Message) -> Vec<Output> {
    s.handle(Input::Message { conn, message })
}

const C1: ConnId = ConnId(1);
const C2: ConnId = ConnId(2);

/// A fresh session, started, that has sent its OPEN on outgoing `C1`.
fn open_sent() -> Session {
    let mut s = session();
    s.handle(Input::Start);
    connected(&mut s, C1, Direction::Outgoing);
    s
}

/// Drives a fresh session to Established over one outgoing connection.
fn established() -> Session {
    let mut s = open_sent();
    receive(&mut s, C1, peer_open(65501, REMOTE_ID, 90));
    let out = receive(&mut s, C1, Message::Keepalive);
    assert!(out.iter().any(|o| matches!(o, Output::Established { .. })));
    s
}

#[test]
fn start_connects_and_arms_connect_retry() {
    let mut s = session();
    let out = s.handle(Input::Start);
    assert_eq!(out[0], Output::Connect);
    let d = connect_retry_of(&out).expect("ConnectRetry armed");
    assert!(d <= Duration::from_secs(1), "{d:?}");
    assert_eq!(s.state(), State::Connect);
}

#[test]
fn passive_session_waits_in_active_without_connecting() {
    let mut cfg = Config::new(65500, 65501, LOCAL_ID);
    cfg.passive = true;
    let mut s = Session::new(cfg);
    let out = s.handle(Input::Start);
    assert!(!out.contains(&Output::Connect));
    assert_eq!(s.state(), State::Active);
}

#[test]
fn full_handshake_reaches_established_with_negotiated_hold_time() {
    let mut s = session();
    s.handle(Input::Start);
    let out = connected(&mut s, C1, Direction::Outgoing);
    assert!(
        matches!(sends(&out)[0].1, Message::Open(ref o) if o.asn() == 65500 && o.hold_time == 90)
    );
    assert_eq!(s.state(), State::OpenSent);

    let out = receive(&mut s, C1, peer_open(65501, REMOTE_ID, 30));
    assert_eq!(sends(&out), vec![(C1, Message::Keepalive)]);
    assert!(out.contains(&Output::StartTimer(
        Timer::HoldTimer(C1),
        Duration::from_secs(30)
    )));
    assert!(out.contains(&Output::StartTimer(
        Timer::KeepaliveTimer(C1),
        Duration::from_secs(10)
    )));
    assert_eq!(s.state(), State::OpenConfirm);

    let out = receive(&mut s, C1, Message::Keepalive);
    let negotiated = out
        .iter()
        .find_map(|o| match o {
            Output::Established { negotiated, .. } => Some(negotiated.clone()),
            _ => None,
        })
        .expect("Established output");
    assert_eq!(negotiated.hold_time, 30);
    assert_eq!(negotiated.remote_as, 65501);
    assert!(negotiated.four_octet_as);
    assert_eq!(
        negotiated.families,
        vec![(Afi::Ipv4, Safi::Unicast), (Afi::Ipv6, Safi::Unicast)]
    );
    assert!(out.contains(&Output::StateChange {
        from: State::OpenConfirm,
        to: State::Established
    }));
}

#[test]
fn wrong_peer_as_sends_bad_peer_as_and_backs_off() {
    let mut s = open_sent();
    let out = receive(&mut s, C1, peer_open(65999, REMOTE_ID, 90));
    let n = notification(&out).expect("notification");
    assert_eq!((n.code, n.subcode), (2, 2));
    assert!(out.contains(&Output::Close { conn: C1 }));
    assert!(out.contains(&Output::StartTimer(Timer::IdleHold, Duration::from_secs(1))));
    assert_eq!(s.state(), State::Idle);
}

/// The OPEN's verdict from a session expecting `remote_as`, for a peer in
/// `asn`: the NOTIFICATION (code, subcode), or none.
fn open_verdict(remote_as: PeerAs, asn: u32) -> Option<(u8, u8)> {
    let mut cfg = Config::new(65500, 0, LOCAL_ID);
    cfg.remote_as = remote_as;
    let mut s = Session::new(cfg);
    s.handle(Input::Start);
    s.handle(Input::TcpConnected {
        conn: C1,
        direction: Direction::Outgoing,
    });
    let out = s.handle(Input::Message {
        conn: C1,
        message: peer_open(asn, REMOTE_ID, 90),
    });
    notification(&out).map(|n| (n.code, n.subcode))
}

#[test]
fn external_accepts_any_as_but_ours() {
    for asn in [65501, 65999, 4_200_000_001] {
        assert_eq!(open_verdict(PeerAs::External, asn), None, "AS {asn}");
    }
    // Ours would be iBGP: Bad Peer AS (RFC 4271 §6.2).
    assert_eq!(open_verdict(PeerAs::External, 65500), Some((2, 2)));
    assert_eq!(open_verdict(PeerAs::Is(65501), 65502), Some((2, 2)));
}

#[test]
fn own_bgp_identifier_is_rejected() {
    let mut s = open_sent();
    let out = receive(&mut s, C1, peer_open(65501, LOCAL_ID, 90));
    assert_eq!(notification_code(&out), Some((2, 3)));
}

#[test]
fn hold_time_of_one_second_is_unacceptable() {
    let mut s = open_sent();
    let out = receive(&mut s, C1, peer_open(65501, REMOTE_ID, 1));
    assert_eq!(notification_code(&out), Some((2, 6)));
}

#[test]
fn hold_timer_expiry_sends_notification_and_goes_idle() {
    let mut s = established();
    let out = s.handle(Input::TimerExpired(Timer::HoldTimer(C1)));
    assert_eq!(notification_code(&out), Some((4, 0)));
    assert!(out.contains(&Output::Down(DownReason::HoldTimerExpired)));
    assert!(out.contains(&Output::Close { conn: C1 }));
    assert_eq!(s.state(), State::Idle);
    // After the idle hold, the session starts over by itself.
    let out = s.handle(Input::TimerExpired(Timer::IdleHold));
    assert!(out.contains(&Output::Connect));
    assert_eq!(s.state(), State::Connect);
}

#[test]
fn keepalive_and_update_restart_the_hold_timer() {
    let mut s = established();
    let out = receive(&mut s, C1, Message::Keepalive);
    assert_eq!(
        out,
        vec![Output::StartTimer(
            Timer::HoldTimer(C1),
            Duration::from_secs(90)
        )]
    );
    let out = receive(&mut s, C1, Message::Update(Update::default()));
    assert!(out.contains(&Output::StartTimer(
        Timer::HoldTimer(C1),
        Duration::from_secs(90)
    )));
    assert!(out.contains(&Output::Update(Update::default())));
}

#[test]
fn keepalive_timer_sends_keepalive_and_rearms() {
    let mut s = established();
    let out = s.handle(Input::TimerExpired(Timer::KeepaliveTimer(C1)));
    assert_eq!(sends(&out), vec![(C1, Message::Keepalive)]);
    assert!(out.contains(&Output::StartTimer(
        Timer::KeepaliveTimer(C1),
        Duration::from_secs(30)
    )));
}

#[test]
fn update_before_established_is_an_fsm_error() {
    let mut s = open_sent();
    let out = receive(&mut s, C1, Message::Update(Update::default()));
    // RFC 6608: FSM error, "unexpected message in OpenSent".
    assert_eq!(notification_code(&out), Some((5, 1)));
}

#[test]
fn notification_from_peer_brings_session_down() {
    let mut s = established();
    let cease = Notification {
        code: 6,
        subcode: 2,
        data: Bytes::new(),
    };
    let out = receive(&mut s, C1, Message::Notification(cease.clone()));
    assert!(out.contains(&Output::Down(DownReason::NotificationReceived(cease))));
    assert!(
        sends(&out).is_empty(),
        "never answer a NOTIFICATION with one"
    );
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn admin_stop_sends_cease_with_shutdown_communication() {
    let mut s = established();
    let out = s.handle(Input::Stop {
        communication: Some("maintenance".into()),
    });
    let n = notification(&out).expect("cease");
    assert_eq!((n.code, n.subcode), (6, 2));
    assert_eq!(&n.data[..], b"\x0bmaintenance");
    assert!(out.contains(&Output::Down(DownReason::AdminStop)));
    assert_eq!(s.state(), State::Idle);
    // Administratively down: no automatic restart, incoming connections refused.
    let out = connected(&mut s, C2, Direction::Incoming);
    assert_eq!(out, vec![Output::Close { conn: C2 }]);
}

#[test]
fn collision_keeps_connection_opened_by_higher_identifier() {
    // Local 1.1.1.1 < remote 2.2.2.2: the peer's (incoming) connection survives.
    let mut s = open_sent();
    connected(&mut s, C2, Direction::Incoming);
    let out = receive(&mut s, C1, peer_open(65501, REMOTE_ID, 90));
    let n = notification(&out).expect("collision cease");
    assert_eq!((n.code, n.subcode), (6, 7));
    assert!(out.contains(&Output::Close { conn: C1 }));
    assert_eq!(s.state(), State::OpenSent);
    receive(&mut s, C2, peer_open(65501, REMOTE_ID, 90));
    let out = receive(&mut s, C2, Message::Keepalive);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Established { conn, .. } if *conn == C2))
    );
}

#[test]
fn collision_with_lower_remote_identifier_keeps_our_connection() {
    let mut s = Session::new(Config::new(65500, 65501, Ipv4Addr::new(9, 9, 9, 9)));
    s.handle(Input::Start);
    connected(&mut s, C1, Direction::Outgoing);
    connected(&mut s, C2, Direction::Incoming);
    let out = receive(&mut s, C2, peer_open(65501, REMOTE_ID, 90));
    assert!(out.contains(&Output::Close { conn: C2 }));
    assert!(!out.contains(&Output::Close { conn: C1 }));
    let out = receive(&mut s, C1, peer_open(65501, REMOTE_ID, 90));
    assert_eq!(sends(&out), vec![(C1, Message::Keepalive)]);
}

#[test]
fn connection_after_established_is_closed() {
    let mut s = established();
    let out = connected(&mut s, C2, Direction::Incoming);
    assert_eq!(out, vec![Output::Close { conn: C2 }]);
    assert_eq!(s.state(), State::Established);
}

#[test]
fn connect_failure_retries_on_connect_retry_timer() {
    let mut s = session();
    s.handle(Input::Start);
    let out = s.handle(Input::TcpConnectFailed);
    assert!(connect_retry_of(&out).is_some());
    assert_eq!(s.state(), State::Active);
    let out = s.handle(Input::TimerExpired(Timer::ConnectRetry));
    assert!(out.contains(&Output::Connect));
    assert_eq!(s.state(), State::Connect);
}

#[test]
fn failed_connects_back_off_connect_retry_until_the_cap() {
    let mut s = session();
    let mut clock = Clock::default();
    clock.feed(&mut s, Input::Start);
    // A peer that does not answer: every attempt times out.
    for _ in 0..8 {
        clock.run_until_connect(&mut s);
    }
    let gaps = |c: &Clock| -> Vec<u64> {
        c.connects
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs())
            .collect()
    };
    // The quick first retry (under a second), then 5 s doubled per failure.
    assert_eq!(gaps(&clock), [0, 5, 10, 20, 40, 80, 120, 120]);
    // One that refuses at once: the quick retry, then the same back-off.
    let mut s = session();
    let mut clock = Clock::default();
    clock.feed(&mut s, Input::Start);
    for _ in 0..7 {
        clock.feed(&mut s, Input::TcpConnectFailed);
        clock.run_until_connect(&mut s);
    }
    assert_eq!(gaps(&clock), [0, 10, 20, 40, 80, 120, 120]);
}

#[test]
fn a_successful_connection_resets_the_connect_retry_back_off() {
    let mut s = session();
    s.handle(Input::Start);
    s.handle(Input::TcpConnectFailed);
    s.handle(Input::TimerExpired(Timer::ConnectRetry));
    s.handle(Input::TcpConnectFailed);
    connected(&mut s, C1, Direction::Outgoing);
    // The peer closes before OPEN: the session retries from the base delay.
    let out = s.handle(Input::TcpClosed { conn: C1 });
    assert!(out.contains(&Output::StartTimer(
        Timer::ConnectRetry,
        Duration::from_secs(5)
    )));
}

#[test]
fn repeated_failures_back_off_idle_hold() {
    let mut s = established();
    s.handle(Input::TcpClosed { conn: C1 });
    // Fail twice more during the OPEN exchange.
    for (n, conn) in [(2u64, ConnId(10)), (4, ConnId(11))] {
        s.handle(Input::TimerExpired(Timer::IdleHold));
        connected(&mut s, conn, Direction::Outgoing);
        let out = receive(&mut s, conn, peer_open(1, REMOTE_ID, 90));
        assert!(out.contains(&Output::StartTimer(Timer::IdleHold, Duration::from_secs(n))));
    }
}

#[test]
fn decode_error_sends_its_notification() {
    let mut s = established();
    let n = Notification {
        code: 3,
        subcode: 1,
        data: Bytes::new(),
    };
    let out = s.handle(Input::DecodeError {
        conn: C1,
        notification: n.clone(),
    });
    assert_eq!(notification(&out), Some(n.clone()));
    assert!(out.contains(&Output::Down(DownReason::NotificationSent(n))));
}

#[test]
fn peer_without_multiprotocol_gets_ipv4_unicast_only() {
    let mut s = open_sent();
    let mut open = Config::new(65501, 65500, REMOTE_ID).open();
    open.capabilities
        .retain(|c| !matches!(c, Capability::Multiprotocol { .. }));
    receive(&mut s, C1, Message::Open(open));
    let out = receive(&mut s, C1, Message::Keepalive);
    let families = out.iter().find_map(|o| match o {
        Output::Established { negotiated, .. } => Some(negotiated.families.clone()),
        _ => None,
    });
    assert_eq!(families, Some(vec![(Afi::Ipv4, Safi::Unicast)]));
}

#[test]
fn reset_with_hold_down_waits_that_long_before_restarting() {
    let mut s = established();
    let n = Notification {
        code: 6,
        subcode: 1,
        data: Bytes::new(),
    };
    let out = s.handle(Input::Reset {
        notification: n.clone(),
        hold_down: Some(Duration::from_secs(30)),
    });
    assert_eq!(notification(&out), Some(n.clone()));
    assert!(out.contains(&Output::Down(DownReason::NotificationSent(n))));
    assert!(out.contains(&Output::StartTimer(
        Timer::IdleHold,
        Duration::from_secs(30)
    )));
    // The next failure uses the normal back-off again.
    s.handle(Input::TimerExpired(Timer::IdleHold));
    connected(&mut s, C2, Direction::Outgoing);
    let out = receive(&mut s, C2, peer_open(1, REMOTE_ID, 90));
    assert!(out.iter().any(
        |o| matches!(o, Output::StartTimer(Timer::IdleHold, d) if *d < Duration::from_secs(30))
    ));
}

#[test]
fn peer_connection_during_idle_hold_is_taken() {
    let mut s = established();
    s.handle(Input::TcpClosed { conn: C1 });
    assert_eq!(s.state(), State::Idle);
    let out = connected(&mut s, C2, Direction::Incoming);
    assert!(out.contains(&Output::StopTimer(Timer::IdleHold)));
    assert!(matches!(sends(&out)[0].1, Message::Open(_)));
    assert_eq!(s.state(), State::OpenSent);
}

#[test]
fn peer_connection_during_prefix_hold_down_is_refused() {
    let mut s = established();
    let n = Notification {
        code: 6,
        subcode: 1,
        data: Bytes::new(),
    };
    s.handle(Input::Reset {
        notification: n,
        hold_down: Some(Duration::from_secs(30)),
    });
    let out = connected(&mut s, C2, Direction::Incoming);
    assert_eq!(out, vec![Output::Close { conn: C2 }]);
    s.handle(Input::TimerExpired(Timer::IdleHold));
    let out = connected(&mut s, ConnId(3), Direction::Incoming);
    assert!(matches!(sends(&out)[0].1, Message::Open(_)));
}

/// Runs a session with `cfg` to Established against a peer sending
/// `peer`; returns the OPEN we sent and what was negotiated.
fn establish(cfg: Config, peer: Open) -> (Open, Negotiated) {
    let mut s = Session::new(cfg);
    s.handle(Input::Start);
    let out = connected(&mut s, C1, Direction::Outgoing);
    let Message::Open(sent) = sends(&out)[0].1.clone() else {
        panic!("expected our OPEN");
    };
    receive(&mut s, C1, Message::Open(peer));
    let out = receive(&mut s, C1, Message::Keepalive);
    let negotiated = out
        .into_iter()
        .find_map(|o| match o {
            Output::Established { negotiated, .. } => Some(negotiated),
            _ => None,
        })
        .expect("Established");
    (sent, negotiated)
}

/// Negotiates with a peer whose OPEN carries `peer_caps` extra capabilities;
/// `ours` is our Graceful Restart setting.
fn negotiated_with(ours: Option<u16>, peer_caps: Vec<Capability>) -> Negotiated {
    let mut cfg = Config::new(65500, 65501, LOCAL_ID);
    cfg.graceful_restart = ours;
    let mut open = Config::new(65501, 65500, REMOTE_ID).open();
    open.capabilities.extend(peer_caps);
    establish(cfg, open).1
}

#[test]
fn graceful_restart_capability_is_helper_only() {
    let mut cfg = Config::new(65500, 65501, LOCAL_ID);
    assert!(
        !cfg.open()
            .has(|c| matches!(c, Capability::GracefulRestart { .. }))
    );
    cfg.graceful_restart = Some(120);
    let caps = cfg.open().capabilities;
    let gr = caps
        .iter()
        .find(|c| matches!(c, Capability::GracefulRestart { .. }))
        .expect("announced");
    assert_eq!(
        *gr,
        Capability::GracefulRestart {
            restart_state: false,
            notification: true,
            restart_time: 120,
            families: Vec::new(),
        }
    );
    // The Restart Time field has 12 bits.
    cfg.graceful_restart = Some(5000);
    assert!(cfg.open().has(|c| matches!(
        c,
        Capability::GracefulRestart {
            restart_time: 4095,
            ..
        }
    )));
}

#[test]
fn graceful_restart_is_negotiated_only_when_both_announce_it() {
    let theirs = Capability::GracefulRestart {
        restart_state: true,
        notification: false,
        restart_time: 90,
        families: vec![
            (Afi::Ipv4, Safi::Unicast, true),
            (Afi::Ipv6, Safi::Unicast, false),
        ],
    };
    let n = negotiated_with(Some(120), vec![theirs.clone()]);
    let gr = n.graceful_restart.expect("negotiated");
    assert!(gr.restart_state);
    assert_eq!(gr.restart_time, 90);
    assert!(gr.forwarding_kept(Afi::Ipv4, Safi::Unicast));
    assert!(!gr.forwarding_kept(Afi::Ipv6, Safi::Unicast));
    assert!(gr.preserves(Afi::Ipv6, Safi::Unicast));
    assert!(!gr.preserves(Afi::Ipv4, Safi::Multicast));
    // We did not announce it: the peer's capability is ignored.
    assert_eq!(negotiated_with(None, vec![theirs]).graceful_restart, None);
    // The peer did not announce it.
    assert_eq!(negotiated_with(Some(120), vec![]).graceful_restart, None);
}
/// Runs one handshake with ENHE on our side and/or theirs; returns what was negotiated.
fn negotiate_enh(ours: bool, theirs: bool) -> Negotiated {
    let mut cfg = Config::new(65500, 65501, LOCAL_ID);
    cfg.extended_next_hop = ours;
    let mut peer = Config::new(65501, 65500, REMOTE_ID);
    peer.extended_next_hop = theirs;
    let (sent, negotiated) = establish(cfg, peer.open());
    let announced = sent
        .has(|c| *c == Capability::ExtendedNextHop(vec![(Afi::Ipv4, Safi::Unicast, Afi::Ipv6)]));
    assert_eq!(announced, ours);
    negotiated
}

#[test]
fn extended_next_hop_is_negotiated_only_when_both_sides_announce_it() {
    assert!(negotiate_enh(true, true).extended_next_hop);
    assert!(!negotiate_enh(true, false).extended_next_hop);
    assert!(!negotiate_enh(false, true).extended_next_hop);
    assert!(!negotiate_enh(false, false).extended_next_hop);
}

#[test]
fn extended_next_hop_for_another_family_does_not_count() {
    let mut s = Session::new({
        let mut c = Config::new(65500, 65501, LOCAL_ID);
        c.extended_next_hop = true;
        c
    });
    s.handle(Input::Start);
    connected(&mut s, C1, Direction::Outgoing);
    let mut open = Config::new(65501, 65500, REMOTE_ID).open();
    // IPv4 multicast over IPv6 is not what we use.
    open.capabilities.push(Capability::ExtendedNextHop(vec![(
        Afi::Ipv4,
        Safi::Multicast,
        Afi::Ipv6,
    )]));
    receive(&mut s, C1, Message::Open(open));
    let out = receive(&mut s, C1, Message::Keepalive);
    let n = out
        .into_iter()
        .find_map(|o| match o {
            Output::Established { negotiated, .. } => Some(negotiated),
            _ => None,
        })
        .expect("Established output");
    assert!(!n.extended_next_hop);
}

/// Negotiates with a peer whose OPEN lacks the capabilities `drop` matches.
fn negotiated_without(drop: impl Fn(&Capability) -> bool) -> (Open, Negotiated) {
    let mut open = Config::new(65501, 65500, REMOTE_ID).open();
    open.capabilities.retain(|c| !drop(c));
    establish(Config::new(65500, 65501, LOCAL_ID), open)
}

#[test]
fn extended_message_is_announced_and_negotiated_when_both_have_it_rfc8654() {
    let (sent, n) = negotiated_without(|_| false);
    assert!(sent.has(|c| *c == Capability::ExtendedMessage));
    assert!(n.extended_message);
    let (_, n) = negotiated_without(|c| *c == Capability::ExtendedMessage);
    assert!(!n.extended_message, "the peer did not announce it");
}

#[test]
fn enhanced_route_refresh_is_announced_and_negotiated_when_both_have_it_rfc7313() {
    let (sent, n) = negotiated_without(|_| false);
    assert!(sent.has(|c| *c == Capability::EnhancedRouteRefresh));
    assert!(sent.has(|c| *c == Capability::RouteRefresh));
    assert!(n.enhanced_route_refresh && n.route_refresh);
    let (_, n) = negotiated_without(|c| *c == Capability::EnhancedRouteRefresh);
    assert!(!n.enhanced_route_refresh);
    assert!(n.route_refresh, "plain route refresh stays");
}

#[test]
fn borr_and_eorr_are_passed_up_like_a_refresh_request() {
    let mut s = established();
    for subtype in [
        RouteRefreshSubtype::BeginOfRouteRefresh,
        RouteRefreshSubtype::EndOfRouteRefresh,
    ] {
        let rr = RouteRefresh {
            afi: Afi::Ipv4,
            subtype,
            safi: Safi::Unicast,
        };
        let out = receive(&mut s, C1, Message::RouteRefresh(rr));
        assert!(
            out.iter()
                .any(|o| matches!(o, Output::RouteRefresh(r) if *r == rr)),
            "{out:?}"
        );
    }
}

fn graceful_cap(open: &Open) -> Capability {
    open.capabilities
        .iter()
        .find(|c| matches!(c, Capability::GracefulRestart { .. }))
        .cloned()
        .expect("Graceful Restart announced")
}

/// RFC 4724 §4.1: a restarting speaker lists its families, sets R in the
/// OPENs of its restart and F where its forwarding state survived; once a
/// session was up, a reconnect is no restart (R clear) and the routes
/// installed since are kept (F set).
#[test]
fn restarting_speaker_sets_r_and_f_in_the_first_open_only() {
    let mut cfg = Config::new(65500, 65501, LOCAL_ID);
    cfg.graceful_restart = Some(120);
    cfg.local_restart = Some(LocalRestart {
        restarting: true,
        forwarding: true,
    });
    let (sent, _) = establish(cfg.clone(), Config::new(65501, 65500, REMOTE_ID).open());
    let both = vec![
        (Afi::Ipv4, Safi::Unicast, true),
        (Afi::Ipv6, Safi::Unicast, true),
    ];
    assert_eq!(
        graceful_cap(&sent),
        Capability::GracefulRestart {
            restart_state: true,
            notification: true,
            restart_time: 120,
            families: both.clone(),
        }
    );

    // The session drops and comes back: the next OPEN is no restart's.
    let mut s = Session::new(cfg.clone());
    s.handle(Input::Start);
    connected(&mut s, C1, Direction::Outgoing);
    receive(&mut s, C1, peer_open(65501, REMOTE_ID, 90));
    receive(&mut s, C1, Message::Keepalive);
    s.handle(Input::TcpClosed { conn: C1 });
    s.handle(Input::TimerExpired(Timer::IdleHold));
    let out = connected(&mut s, C2, Direction::Incoming);
    let Some(Message::Open(again)) = sends(&out).into_iter().map(|(_, m)| m).next() else {
        panic!("expected our OPEN: {out:?}");
    };
    assert_eq!(
        graceful_cap(&again),
        Capability::GracefulRestart {
            restart_state: false,
            notification: true,
            restart_time: 120,
            families: both,
        }
    );

    // A fresh start (no routes survived): families listed, F and R clear.
    cfg.local_restart = Some(LocalRestart::default());
    assert_eq!(
        graceful_cap(&cfg.open()),
        Capability::GracefulRestart {
            restart_state: false,
            notification: true,
            restart_time: 120,
            families: vec![
                (Afi::Ipv4, Safi::Unicast, false),
                (Afi::Ipv6, Safi::Unicast, false),
            ],
        }
    );
}

/// Established with Graceful Restart on both sides; the peer announces
/// the N bit as `n_bit` says.
fn established_with_n(n_bit: bool) -> Session {
    let mut cfg = Config::new(65500, 65501, LOCAL_ID);
    cfg.graceful_restart = Some(120);
    let mut s = Session::new(cfg);
    s.handle(Input::Start);
    connected(&mut s, C1, Direction::Outgoing);
    let mut open = Config::new(65501, 65500, REMOTE_ID).open();
    open.capabilities.push(Capability::GracefulRestart {
        restart_state: false,
        notification: n_bit,
        restart_time: 90,
        families: vec![(Afi::Ipv4, Safi::Unicast, true)],
    });
    receive(&mut s, C1, Message::Open(open));
    receive(&mut s, C1, Message::Keepalive);
    assert_eq!(s.state(), State::Established);
    s
}

/// RFC 8538 §5: with the N bit both ways, an administrative reset goes out
/// as a Hard Reset carrying the original code, subcode and data; without
/// it, as itself.
#[test]
fn admin_reset_is_a_hard_reset_only_when_the_n_bit_is_negotiated() {
    let reset = Notification::cease(CeaseSubcode::AdministrativeReset, &b"\x02hi"[..]);
    let mut s = established_with_n(true);
    let out = s.handle(Input::Reset {
        notification: reset.clone(),
        hold_down: None,
    });
    let sent = notification(&out).expect("a NOTIFICATION");
    assert!(sent.is_cease(CeaseSubcode::HardReset), "{sent}");
    assert_eq!(&sent.data[..], b"\x06\x04\x02hi");
    let down = out.iter().find_map(|o| match o {
        Output::Down(r) => Some(r.clone()),
        _ => None,
    });
    let down = down.expect("Down");
    assert!(!down.allows_graceful_restart(true), "{down}");

    let mut s = established_with_n(false);
    let out = s.handle(Input::Reset {
        notification: reset.clone(),
        hold_down: None,
    });
    assert_eq!(notification(&out), Some(reset));

    // A manual stop (Cease/Administrative Shutdown) too.
    let mut s = established_with_n(true);
    let out = s.handle(Input::Stop {
        communication: None,
    });
    let sent = notification(&out).expect("a NOTIFICATION");
    assert!(sent.is_cease(CeaseSubcode::HardReset), "{sent}");
    assert_eq!(
        &sent.data[..],
        &[6, 2],
        "Cease/Administrative Shutdown inside"
    );
}

#[test]
fn which_session_ends_allow_a_graceful_restart() {
    let n = |code: u8, subcode: u8| Notification::new(code, subcode, Bytes::new());
    let cease = |subcode: CeaseSubcode| Notification::cease(subcode, Bytes::new());
    for r in [DownReason::ConnectionClosed, DownReason::HoldTimerExpired] {
        assert!(r.allows_graceful_restart(false), "{r}");
        assert!(r.allows_graceful_restart(true), "{r}");
    }
    assert!(!DownReason::AdminStop.allows_graceful_restart(true));
    for r in [
        DownReason::NotificationReceived(cease(CeaseSubcode::AdministrativeShutdown)),
        DownReason::NotificationSent(n(3, 1)),
    ] {
        assert!(!r.allows_graceful_restart(false), "{r} without N");
        assert!(r.allows_graceful_restart(true), "{r} with N");
    }
    for r in [
        DownReason::NotificationReceived(cease(CeaseSubcode::HardReset)),
        DownReason::NotificationSent(cease(CeaseSubcode::HardReset)),
    ] {
        assert!(!r.allows_graceful_restart(true), "{r}");
    }
}

#[test]
fn first_connect_retry_is_under_a_second_with_seeded_jitter() {
    let delay = |seed: u64| {
        let mut cfg = Config::new(65500, 65501, LOCAL_ID);
        cfg.jitter_seed = seed;
        let mut s = Session::new(cfg);
        connect_retry_of(&s.handle(Input::Start)).unwrap()
    };
    let delays: Vec<Duration> = (0..64).map(delay).collect();
    // RFC 4271 §10: 0.75 to 1.0 of the base.
    for d in &delays {
        assert!(
            (Duration::from_millis(750)..=Duration::from_secs(1)).contains(d),
            "{d:?}"
        );
    }
    // Deterministic per seed, spread across seeds.
    assert_eq!(delay(7), delay(7));
    let distinct: std::collections::HashSet<_> = delays.iter().collect();
    assert!(distinct.len() > 60, "{} distinct delays", distinct.len());
}

#[test]
fn a_refused_first_attempt_is_retried_within_a_second() {
    // The tunnel's first handshake is still in flight: the connect fails at
    // once, the retry comes before a second is out, and it gets through.
    let mut s = session();
    let mut clock = Clock::default();
    clock.feed(&mut s, Input::Start);
    clock.feed(&mut s, Input::TcpConnectFailed);
    assert_eq!(s.state(), State::Active);
    let at = clock.run_until_connect(&mut s);
    assert!(at <= Duration::from_secs(1), "retried at {at:?}");
    assert_eq!(s.state(), State::Connect);
    clock.feed(
        &mut s,
        Input::TcpConnected {
            conn: C1,
            direction: Direction::Outgoing,
        },
    );
    assert_eq!(s.state(), State::OpenSent);
}

#[test]
fn a_first_attempt_that_hangs_is_replaced_within_a_second() {
    let mut s = session();
    let mut clock = Clock::default();
    clock.feed(&mut s, Input::Start);
    let out = clock.fire_next(&mut s);
    assert!(clock.now <= Duration::from_secs(1));
    let abort = out.iter().position(|o| *o == Output::AbortConnect);
    let connect = out.iter().position(|o| *o == Output::Connect);
    assert!(abort.is_some() && abort < connect, "{out:?}");
    // That was the quick retry: the next one waits the 5 s base.
    assert_eq!(connect_retry_of(&out), Some(Duration::from_secs(5)));
}

#[test]
fn connect_now_in_active_connects_at_once_and_resets_the_back_off() {
    let mut s = session();
    let mut clock = Clock::default();
    clock.feed(&mut s, Input::Start);
    for _ in 0..3 {
        clock.feed(&mut s, Input::TcpConnectFailed);
        clock.run_until_connect(&mut s);
    }
    clock.feed(&mut s, Input::TcpConnectFailed);
    assert_eq!(s.state(), State::Active);
    // Backed off to 40 s; the tunnel comes up now.
    assert_eq!(
        clock.timers[&Timer::ConnectRetry] - clock.now,
        Duration::from_secs(40)
    );
    let out = clock.feed(&mut s, Input::ConnectNow);
    assert_eq!(out[0], Output::Connect);
    assert_eq!(s.state(), State::Connect);
    assert!(clock.timers[&Timer::ConnectRetry] - clock.now <= Duration::from_secs(1));
    // If that one is refused too, the retry is quick again, then backs off.
    let now = clock.now;
    clock.feed(&mut s, Input::TcpConnectFailed);
    assert!(clock.run_until_connect(&mut s) - now <= Duration::from_secs(1));
    let now = clock.now;
    clock.feed(&mut s, Input::TcpConnectFailed);
    assert_eq!(
        clock.run_until_connect(&mut s) - now,
        Duration::from_secs(10)
    );
}

#[test]
fn connect_now_replaces_an_attempt_in_flight() {
    let mut s = session();
    s.handle(Input::Start);
    assert_eq!(s.state(), State::Connect);
    let out = s.handle(Input::ConnectNow);
    assert_eq!(out[..2], [Output::AbortConnect, Output::Connect]);
    assert_eq!(s.state(), State::Connect);
}

#[test]
fn connect_now_is_ignored_while_a_connection_is_open_or_established() {
    let mut s = open_sent();
    assert_eq!(s.state(), State::OpenSent);
    assert_eq!(s.handle(Input::ConnectNow), vec![]);
    let mut s = established();
    assert_eq!(s.handle(Input::ConnectNow), vec![]);
    assert_eq!(s.state(), State::Established);
}

#[test]
fn connect_now_is_ignored_when_stopped_or_passive() {
    let mut s = session();
    assert_eq!(s.handle(Input::ConnectNow), vec![]);
    assert_eq!(s.state(), State::Idle);
    let mut cfg = Config::new(65500, 65501, LOCAL_ID);
    cfg.passive = true;
    let mut s = Session::new(cfg);
    s.handle(Input::Start);
    assert_eq!(s.handle(Input::ConnectNow), vec![]);
    assert_eq!(s.state(), State::Active);
}

#[test]
fn connect_now_ends_the_idle_hold_but_not_a_max_prefix_hold_down() {
    let mut s = established();
    s.handle(Input::TcpClosed { conn: C1 });
    assert_eq!(s.state(), State::Idle);
    let out = s.handle(Input::ConnectNow);
    assert!(out.contains(&Output::StopTimer(Timer::IdleHold)));
    assert!(out.contains(&Output::Connect));
    assert_eq!(s.state(), State::Connect);

    let mut s = established();
    s.handle(Input::Reset {
        notification: Notification {
            code: 6,
            subcode: 1,
            data: Bytes::new(),
        },
        hold_down: Some(Duration::from_secs(30)),
    });
    assert_eq!(s.handle(Input::ConnectNow), vec![]);
    assert_eq!(s.state(), State::Idle);
}
