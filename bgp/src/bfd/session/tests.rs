//! Session tests on a fake clock: two sessions wired back to back, or one
//! session fed hand-made packets.

use super::*;

const MS: Duration = Duration::from_millis(1);

fn fast(ms: u32, mult: u8) -> SessionConfig {
    SessionConfig {
        desired_min_tx: ms * MS,
        required_min_rx: ms * MS,
        detect_mult: mult,
    }
}

/// Two sessions, A and B, connected by a wire that can be cut, stepped
/// one millisecond at a time.
struct Pair {
    a: Session,
    b: Session,
    now: Instant,
    t0: Instant,
    /// Packets A → B and B → A are delivered while true.
    a_to_b: bool,
    b_to_a: bool,
    sent_a: Vec<(Duration, ControlPacket)>,
    events_a: Vec<(Duration, Event)>,
    events_b: Vec<(Duration, Event)>,
}

impl Pair {
    fn new(ca: SessionConfig, cb: SessionConfig) -> Pair {
        let t0 = Instant::now();
        Pair {
            a: Session::new(0x0a, ca, t0, 7),
            b: Session::new(0x0b, cb, t0 + 3 * MS, 99),
            now: t0,
            t0,
            a_to_b: true,
            b_to_a: true,
            sent_a: Vec::new(),
            events_a: Vec::new(),
            events_b: Vec::new(),
        }
    }

    fn step(&mut self) {
        self.now += MS;
        let now = self.now;
        let at = now - self.t0;
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        while let Some(p) = self.a.poll_transmit(now) {
            self.sent_a.push((at, p));
            if self.a_to_b {
                let _ = self.b.handle_packet(now, &p);
            }
        }
        while let Some(p) = self.b.poll_transmit(now) {
            if self.b_to_a {
                let _ = self.a.handle_packet(now, &p);
            }
        }
        while let Some(e) = self.a.poll_event() {
            self.events_a.push((at, e));
        }
        while let Some(e) = self.b.poll_event() {
            self.events_b.push((at, e));
        }
    }

    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
        }
    }

    /// Steps until `f` holds; the time it took.
    fn run_until(&mut self, limit: Duration, f: impl Fn(&Pair) -> bool) -> Duration {
        let start = self.now;
        while !f(self) {
            assert!(self.now - start < limit, "not within {limit:?}");
            self.step();
        }
        self.now - start
    }

    fn up(&mut self) {
        self.run_until(Duration::from_secs(5), |p| {
            p.a.state() == State::Up && p.b.state() == State::Up
        });
    }
}

fn states(events: &[(Duration, Event)]) -> Vec<State> {
    events
        .iter()
        .map(|(_, Event::StateChange { to, .. })| *to)
        .collect()
}

fn packet(state: State, your: u32) -> ControlPacket {
    ControlPacket {
        diag: Diagnostic::NoDiagnostic,
        state,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 0x77,
        your_discriminator: your,
        desired_min_tx_interval: 300_000,
        required_min_rx_interval: 300_000,
        required_min_echo_rx_interval: 0,
    }
}

#[test]
fn three_way_handshake_brings_both_ends_up() {
    let mut p = Pair::new(fast(300, 3), fast(300, 3));
    let took = p.run_until(Duration::from_secs(5), |p| {
        p.a.state() == State::Up && p.b.state() == State::Up
    });
    // Down → Init → Up on both ends, within a couple of slow (1 s) packets.
    assert!(took <= Duration::from_millis(1100), "{took:?}");
    // One end sees the other's Init and skips it (Down → Up is allowed).
    for events in [&p.events_a, &p.events_b] {
        let s = states(events);
        assert!(s == [State::Init, State::Up] || s == [State::Up], "{s:?}");
    }
    assert_eq!(p.a.status().remote_discr, 0x0b);
    assert_eq!(p.b.status().remote_discr, 0x0a);
}

#[test]
fn down_session_sends_no_faster_than_once_a_second() {
    let mut p = Pair::new(fast(50, 3), fast(50, 3));
    p.b_to_a = false;
    p.a_to_b = false;
    p.run(Duration::from_secs(5));
    let gaps: Vec<Duration> = p.sent_a.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.len() >= 4, "{gaps:?}");
    for g in gaps {
        // RFC 5880 §6.8.3 (1 s while not Up), less up to 25 % jitter.
        assert!(g >= Duration::from_millis(750) && g <= SLOW_TX, "{g:?}");
    }
}

#[test]
fn poll_sequence_switches_to_the_configured_rate_after_up() {
    let mut p = Pair::new(fast(100, 3), fast(100, 3));
    p.up();
    // The first packets after Up carry P; once the F came back, A sends
    // every 100 ms less jitter, without P.
    p.run(Duration::from_millis(500));
    let after: Vec<_> = p
        .sent_a
        .iter()
        .filter(|(_, s)| s.state == State::Up)
        .collect();
    assert!(after.first().unwrap().1.poll, "{after:?}");
    assert!(!p.a.polling && !p.b.polling);
    assert_eq!(
        states(&p.events_a).last(),
        Some(&State::Up),
        "never left Up"
    );
    assert_eq!(
        p.events_a.len() + p.events_b.len(),
        3,
        "{:?} {:?}",
        p.events_a,
        p.events_b
    );
    assert_eq!(p.a.tx_interval(), 100 * MS);
    let tail: Vec<_> = after.iter().rev().take(3).collect();
    for w in tail.windows(2) {
        let gap = w[0].0 - w[1].0;
        assert!(!w[0].1.poll);
        assert!(gap >= 75 * MS && gap <= 100 * MS, "{gap:?}");
    }
    assert_eq!(p.a.detection_time(), Some(300 * MS));
}

#[test]
fn poll_bit_is_answered_with_final_at_once() {
    let t0 = Instant::now();
    let mut s = Session::new(5, fast(300, 3), t0, 1);
    s.handle_packet(t0, &packet(State::Down, 0)).unwrap();
    s.poll_transmit(t0); // the triggered Init
    let mut p = packet(State::Init, 5);
    p.poll = true;
    s.handle_packet(t0 + MS, &p).unwrap();
    let out = s.poll_transmit(t0 + MS).expect("an answer at once");
    assert!(out.final_ && !out.poll, "{out:?}");
}

/// RFC 5880 §6.8.4: Detection Time = remote Detect Mult × max(our
/// RequiredMinRx, remote DesiredMinTx); no sooner, and at once after.
#[test]
fn silence_for_the_detection_time_brings_the_session_down() {
    let mut p = Pair::new(fast(100, 3), fast(200, 4));
    p.up();
    p.run(Duration::from_secs(1));
    // A is told 4 × max(100 ms, 200 ms).
    assert_eq!(p.a.detection_time(), Some(800 * MS));
    // Cut B → A just after a packet from B arrived.
    p.run_until(Duration::from_secs(1), |p| {
        p.a.detect_at == Some(p.now + 800 * MS)
    });
    p.b_to_a = false;
    let took = p.run_until(Duration::from_secs(2), |p| p.a.state() == State::Down);
    assert_eq!(took, 800 * MS);
    let (_, Event::StateChange { from, to, diag }) = *p.events_a.last().unwrap();
    assert_eq!(
        (from, to, diag),
        (
            State::Up,
            State::Down,
            Diagnostic::ControlDetectionTimeExpired
        )
    );
    assert_eq!(p.a.status().remote_discr, 0);
    // B hears A's Down and follows (diag 3), then starts over (Init).
    p.run(Duration::from_millis(50));
    let down = p.events_b.iter().find(|(_, e)| {
        matches!(
            e,
            Event::StateChange {
                from: State::Up,
                to: State::Down,
                ..
            }
        )
    });
    let Some((_, Event::StateChange { diag, .. })) = down else {
        panic!("B did not go down: {:?}", p.events_b);
    };

    assert_eq!(*diag, Diagnostic::NeighborSignaledSessionDown);
}

#[test]
fn session_comes_back_up_when_the_wire_heals() {
    let mut p = Pair::new(fast(100, 3), fast(100, 3));
    p.up();
    p.b_to_a = false;
    p.a_to_b = false;
    p.run_until(Duration::from_secs(1), |p| p.a.state() == State::Down);
    p.run(Duration::from_secs(3));
    assert_eq!(p.a.state(), State::Down);
    p.b_to_a = true;
    p.a_to_b = true;
    let took = p.run_until(Duration::from_secs(5), |p| {
        p.a.state() == State::Up && p.b.state() == State::Up
    });
    assert!(took <= Duration::from_millis(2100), "{took:?}");
}

#[test]
fn neighbor_signalling_down_or_admin_down_brings_us_down() {
    for remote in [State::Down, State::AdminDown] {
        let t0 = Instant::now();
        let mut s = Session::new(5, fast(300, 3), t0, 1);
        s.handle_packet(t0, &packet(State::Init, 5)).unwrap();
        assert_eq!(s.state(), State::Up);
        s.handle_packet(t0 + MS, &packet(remote, 5)).unwrap();
        assert_eq!(s.state(), State::Down, "{remote}");
        // The daemon tells a failed path from a peer that turned BFD off.
        assert_eq!(s.status().remote_state, remote);
        assert_eq!(
            s.status().local_diag,
            Diagnostic::NeighborSignaledSessionDown
        );
    }
}

#[test]
fn packets_for_another_session_are_discarded() {
    let t0 = Instant::now();
    let mut s = Session::new(5, fast(300, 3), t0, 1);
    assert_eq!(
        s.handle_packet(t0, &packet(State::Init, 6)),
        Err(Discard::WrongDiscriminator(6))
    );
    assert_eq!(
        s.handle_packet(t0, &packet(State::Up, 0)),
        Err(Discard::ZeroDiscriminator(State::Up))
    );
    assert_eq!(s.state(), State::Down);
    assert_eq!(s.status().remote_discr, 0);
}

#[test]
fn admin_down_is_announced_and_ignores_the_peer() {
    let t0 = Instant::now();
    let mut s = Session::new(5, fast(300, 3), t0, 1);
    s.handle_packet(t0, &packet(State::Init, 5)).unwrap();
    s.set_admin_down(t0, true);
    let out = s.poll_transmit(t0).unwrap();
    assert_eq!(
        (out.state, out.diag),
        (State::AdminDown, Diagnostic::AdministrativelyDown)
    );
    assert_eq!(
        s.handle_packet(t0, &packet(State::Up, 5)),
        Err(Discard::AdminDown)
    );
    s.set_admin_down(t0, false);
    assert_eq!(s.state(), State::Down);
}

#[test]
fn jitter_stays_within_the_rfc_bounds() {
    for (mult, lo, hi) in [(3, 75, 100), (1, 75, 90)] {
        let mut s = Session::new(1, fast(100, mult), Instant::now(), 12345);
        let got: Vec<Duration> = (0..2000).map(|_| s.jittered(1000 * MS)).collect();
        let min = *got.iter().min().unwrap();
        let max = *got.iter().max().unwrap();
        assert!(
            min >= lo * 10 * MS && max <= hi * 10 * MS,
            "{min:?} {max:?}"
        );
        // Spread, not a constant.
        assert!(max - min >= (hi - lo) * 8 * MS, "{min:?} {max:?}");
    }
}

#[test]
fn slower_config_while_up_waits_for_the_final() {
    let mut p = Pair::new(fast(100, 3), fast(100, 3));
    p.up();
    p.run(Duration::from_millis(500));
    p.b_to_a = false;
    p.a.set_config(p.now, fast(400, 3));
    p.step();
    // Not confirmed yet: still 100 ms, and P on every packet.
    assert_eq!(p.a.tx_interval(), 100 * MS);
    assert!(p.sent_a.last().unwrap().1.poll);
    p.b_to_a = true;
    p.run(Duration::from_millis(200));
    assert!(!p.a.polling);
    assert_eq!(p.a.tx_interval(), 400 * MS);
    assert_eq!(p.a.state(), State::Up);
    // B now expects A every 400 ms: its detection time is 3 × 400 ms.
    assert_eq!(p.b.detection_time(), Some(1200 * MS));
}
