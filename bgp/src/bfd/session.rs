//! One BFD session in Asynchronous mode (RFC 5880 §6), without sockets or
//! clocks: packets and time go in ([`Session::handle_packet`],
//! [`Session::handle_timeout`]), packets to send and state changes come
//! out ([`Session::poll_transmit`], [`Session::poll_event`]), and
//! [`Session::poll_timeout`] says when to call again.
//!
//! Variables follow RFC 5880 §6.8.1 (`bfd.SessionState` is `state`,
//! `bfd.RemoteDiscr` is `remote_discr`, ...). Demand mode and the Echo
//! function are not implemented; wgbgp is always in the Active role.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::packet::{ControlPacket, Diagnostic, State};

/// RFC 5880 §6.8.3: while the session is not Up, DesiredMinTxInterval
/// must be at least one second.
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// bfd.DesiredMinTxInterval once Up.
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval.
    pub required_min_rx: Duration,
    /// bfd.DetectMult.
    pub detect_mult: u8,
}

impl Default for SessionConfig {
    /// FRR's defaults: 300 ms × 3.
    fn default() -> SessionConfig {
        SessionConfig {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
        }
    }
}

/// What the session reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `bfd.SessionState` changed; `diag` is `bfd.LocalDiag` after it.
    StateChange {
        from: State,
        to: State,
        diag: Diagnostic,
    },
}

/// Why a packet was not accepted by the session (RFC 5880 §6.8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Discard {
    #[error("Your Discriminator {0} is not ours")]
    WrongDiscriminator(u32),
    #[error("Your Discriminator is zero in state {0}")]
    ZeroDiscriminator(State),
    #[error("the session is AdminDown")]
    AdminDown,
}

/// A snapshot for `show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    pub remote_state: State,
    pub local_discr: u32,
    pub remote_discr: u32,
    pub local_diag: Diagnostic,
    pub remote_diag: Diagnostic,
    /// Interval between our packets now (before jitter).
    pub tx_interval: Duration,
    /// The Detection Time in use, if the remote has been heard from.
    pub detection_time: Option<Duration>,
    pub remote_detect_mult: u8,
    pub remote_min_rx: Duration,
    pub remote_desired_min_tx: Duration,
    /// When `state` last changed.
    pub since: Instant,
}

/// One BFD session (RFC 5880 §6.8.1 state variables).
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    remote_state: State,
    local_discr: u32,
    remote_discr: u32,
    local_diag: Diagnostic,
    remote_diag: Diagnostic,
    /// bfd.DesiredMinTxInterval as advertised.
    desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval as advertised.
    required_min_rx: Duration,
    /// The values used for our timing until a Poll Sequence confirms the
    /// advertised ones (RFC 5880 §6.8.3).
    tx_in_use: Duration,
    rx_in_use: Duration,
    remote_min_rx: Duration,
    remote_desired_min_tx: Duration,
    remote_detect_mult: u8,
    /// A Poll Sequence is under way: P is set until an F comes back.
    polling: bool,
    /// A received P is answered with an F as soon as possible.
    final_due: bool,
    /// Our state changed: tell the peer at once.
    triggered: bool,
    next_tx: Instant,
    detect_at: Option<Instant>,
    since: Instant,
    rng: u32,
    events: VecDeque<Event>,
}

impl Session {
    /// A session in Down with `local_discr` (non-zero, unique per system);
    /// `seed` feeds the transmit jitter.
    pub fn new(local_discr: u32, cfg: SessionConfig, now: Instant, seed: u32) -> Session {
        assert!(
            local_discr != 0,
            "RFC 5880 §6.8.1: bfd.LocalDiscr is non-zero"
        );
        Session {
            cfg,
            state: State::Down,
            remote_state: State::Down,
            local_discr,
            remote_discr: 0,
            local_diag: Diagnostic::NoDiagnostic,
            remote_diag: Diagnostic::NoDiagnostic,
            desired_min_tx: cfg.desired_min_tx.max(SLOW_TX),
            required_min_rx: cfg.required_min_rx,
            tx_in_use: cfg.desired_min_tx.max(SLOW_TX),
            rx_in_use: cfg.required_min_rx,
            // RFC 5880 §6.8.1: initialized to 1 (microsecond).
            remote_min_rx: Duration::from_micros(1),
            remote_desired_min_tx: Duration::ZERO,
            remote_detect_mult: 0,
            polling: false,
            final_due: false,
            triggered: false,
            next_tx: now,
            detect_at: None,
            since: now,
            rng: seed | 1,
            events: VecDeque::new(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn local_discr(&self) -> u32 {
        self.local_discr
    }

    pub fn config(&self) -> SessionConfig {
        self.cfg
    }

    pub fn status(&self) -> Status {
        Status {
            state: self.state,
            remote_state: self.remote_state,
            local_discr: self.local_discr,
            remote_discr: self.remote_discr,
            local_diag: self.local_diag,
            remote_diag: self.remote_diag,
            tx_interval: self.tx_interval(),
            detection_time: self.detection_time(),
            remote_detect_mult: self.remote_detect_mult,
            remote_min_rx: self.remote_min_rx,
            remote_desired_min_tx: self.remote_desired_min_tx,
            since: self.since,
        }
    }

    /// RFC 5880 §6.8.7: the larger of bfd.DesiredMinTxInterval and
    /// bfd.RemoteMinRxInterval.
    pub fn tx_interval(&self) -> Duration {
        self.tx_in_use.max(self.remote_min_rx)
    }

    /// RFC 5880 §6.8.4 (Asynchronous mode): the remote's Detect Mult times
    /// the larger of our RequiredMinRxInterval and its DesiredMinTxInterval.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote_detect_mult > 0).then(|| {
            self.rx_in_use.max(self.remote_desired_min_tx) * u32::from(self.remote_detect_mult)
        })
    }

    /// Processes a decoded packet (RFC 5880 §6.8.6, after the checks the
    /// codec made).
    pub fn handle_packet(&mut self, now: Instant, p: &ControlPacket) -> Result<(), Discard> {
        if p.your_discriminator != 0 && p.your_discriminator != self.local_discr {
            return Err(Discard::WrongDiscriminator(p.your_discriminator));
        }
        if p.your_discriminator == 0 && !matches!(p.state, State::Down | State::AdminDown) {
            return Err(Discard::ZeroDiscriminator(p.state));
        }
        if self.state == State::AdminDown {
            return Err(Discard::AdminDown);
        }
        self.remote_discr = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_diag = p.diag;
        self.remote_detect_mult = p.detect_mult;
        self.remote_desired_min_tx = Duration::from_micros(p.desired_min_tx_interval.into());
        let remote_min_rx = Duration::from_micros(p.required_min_rx_interval.into());
        if remote_min_rx != self.remote_min_rx {
            // A slower remote takes effect now; a faster one from the next
            // packet on (RFC 5880 §6.8.7 only bounds the interval below).
            self.remote_min_rx = remote_min_rx;
            if self.next_tx > now + self.tx_interval() {
                self.next_tx = now + self.jittered(self.tx_interval());
            }
        }
        if p.final_ && self.polling {
            self.end_poll();
        }
        // The Detection Time counts from the last packet received.
        self.detect_at = self.detection_time().map(|d| now + d);

        match (self.state, p.state) {
            // RFC 5880 §6.8.6: AdminDown from the peer takes Init and Up
            // down; Down from the peer only Up (Init waits for its Init).
            (State::Init | State::Up, State::AdminDown) | (State::Up, State::Down) => {
                self.transition(now, State::Down, Diagnostic::NeighborSignaledSessionDown)
            }
            (State::Down, State::Down) => self.transition(now, State::Init, self.local_diag),
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                self.transition(now, State::Up, Diagnostic::NoDiagnostic)
            }
            _ => {}
        }
        if p.poll {
            // RFC 5880 §6.8.6: "as soon as practicable", with F set.
            self.final_due = true;
        }
        Ok(())
    }

    /// Expires the Detection Time if it has passed (RFC 5880 §6.8.4).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.detect_at.is_some_and(|t| now >= t) {
            self.detect_at = None;
            // RFC 5880 §6.8.1: bfd.RemoteDiscr is zeroed when a Detection
            // Time passes without a packet.
            self.remote_discr = 0;
            self.remote_detect_mult = 0;
            self.remote_state = State::Down;
            if matches!(self.state, State::Init | State::Up) {
                self.transition(now, State::Down, Diagnostic::ControlDetectionTimeExpired);
            }
        }
    }

    /// The packet to send now, if one is due: an F answering a P, a packet
    /// announcing our new state, or the periodic one.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<ControlPacket> {
        if self.final_due {
            // A triggered packet (with P, if polling) still follows: P and
            // F never share a packet.
            self.final_due = false;
            return Some(self.packet(false, true));
        }
        // RFC 5880 §6.8.7: nothing periodic while the remote asks for no packets.
        if self.remote_min_rx.is_zero() {
            return None;
        }
        if self.triggered || now >= self.next_tx {
            self.triggered = false;
            self.next_tx = now + self.jittered(self.tx_interval());
            return Some(self.packet(self.polling, false));
        }
        None
    }

    /// When [`Session::handle_timeout`] or [`Session::poll_transmit`] next
    /// has something to do.
    pub fn poll_timeout(&self) -> Instant {
        match self.detect_at {
            Some(d) => d.min(self.next_tx),
            None => self.next_tx,
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// AdminDown (`true`) tells the peer the session is down on purpose;
    /// back to Down (`false`) starts over.
    pub fn set_admin_down(&mut self, now: Instant, down: bool) {
        match (down, self.state) {
            (true, State::AdminDown) | (false, State::Down | State::Init | State::Up) => {}
            (true, _) => self.transition(now, State::AdminDown, Diagnostic::AdministrativelyDown),
            (false, State::AdminDown) => {
                self.transition(now, State::Down, Diagnostic::AdministrativelyDown)
            }
        }
    }

    /// New intervals or multiplier; while Up they take effect through a
    /// Poll Sequence (RFC 5880 §6.8.3).
    pub fn set_config(&mut self, now: Instant, cfg: SessionConfig) {
        self.cfg = cfg;
        self.required_min_rx = cfg.required_min_rx;
        if self.state == State::Up {
            self.desired_min_tx = cfg.desired_min_tx;
            self.start_poll(now);
        } else {
            self.desired_min_tx = cfg.desired_min_tx.max(SLOW_TX);
            self.tx_in_use = self.desired_min_tx;
            self.rx_in_use = self.required_min_rx;
        }
    }

    fn transition(&mut self, now: Instant, to: State, diag: Diagnostic) {
        let from = self.state;
        self.state = to;
        self.local_diag = diag;
        self.since = now;
        self.triggered = true;
        if to == State::Up {
            // RFC 5880 §6.8.3: now the configured rate, verified by a Poll.
            self.desired_min_tx = self.cfg.desired_min_tx;
            if self.desired_min_tx != self.tx_in_use || self.required_min_rx != self.rx_in_use {
                self.start_poll(now);
            }
        } else if from == State::Up {
            self.polling = false;
            self.desired_min_tx = self.cfg.desired_min_tx.max(SLOW_TX);
            self.tx_in_use = self.desired_min_tx;
            self.rx_in_use = self.required_min_rx;
        }
        self.events.push_back(Event::StateChange { from, to, diag });
    }

    /// RFC 5880 §6.8.3: a faster transmit rate and a longer receive
    /// interval take effect at once; a slower transmit rate and a shorter
    /// receive interval only when the Poll Sequence ends.
    fn start_poll(&mut self, now: Instant) {
        self.polling = true;
        self.triggered = true;
        self.tx_in_use = self.tx_in_use.min(self.desired_min_tx);
        self.rx_in_use = self.rx_in_use.max(self.required_min_rx);
        if self.next_tx > now + self.tx_interval() {
            self.next_tx = now;
        }
    }

    fn end_poll(&mut self) {
        self.polling = false;
        self.tx_in_use = self.desired_min_tx;
        self.rx_in_use = self.required_min_rx;
    }

    fn packet(&self, poll: bool, final_: bool) -> ControlPacket {
        let micros = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll,
            final_,
            control_plane_independent: false,
            demand: false,
            detect_mult: self.cfg.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx_interval: micros(self.desired_min_tx),
            required_min_rx_interval: micros(self.required_min_rx),
            required_min_echo_rx_interval: 0,
        }
    }

    /// RFC 5880 §6.8.7: each interval reduced by a random 0–25 %, or by
    /// 10–25 % when bfd.DetectMult is 1.
    fn jittered(&mut self, interval: Duration) -> Duration {
        // xorshift32: good enough to decorrelate senders.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        let (lo, hi) = if self.cfg.detect_mult == 1 {
            (75, 90)
        } else {
            (75, 100)
        };
        let pct = lo + self.rng % (hi - lo + 1);
        interval * pct / 100
    }
}

#[cfg(test)]
mod tests;
