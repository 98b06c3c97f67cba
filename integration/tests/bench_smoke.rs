//! The full-table benchmark pipeline at a small size, as a correctness test:
//! our sender feeds 5,000 IPv4 + 1,000 IPv6 prefixes to wgbgpd and to BIRD,
//! every route must reach the kernel (checked by count and by a full dump
//! against the table: prefix, protocol, gateway), and every route must be
//! gone once the sender leaves.
//!
//! ```text
//!  sender netns                          receiver netns
//!  fullfeed speaker  AS 64600            wgbgpd | BIRD  AS 64700
//!  fs0 10.77.0.1/24 fd77::1/64 ── veth ── fr0 10.77.0.2/24 fd77::2/64
//! ```
//!
//! Timings are printed, not asserted: CI machines are shared and noisy.

use std::time::Duration;

use integration::bench::{ReceiverKind, RunOptions, RunResult, Topology, generate, run};

fn smoke(kind: ReceiverKind) -> RunResult {
    integration::require_root();
    let topo = Topology::default();
    let table = generate(&topo.table_spec(5_000, 1_000, 42));
    let opts = RunOptions {
        timeout: Duration::from_secs(20),
        poll: Duration::from_millis(20),
        verify: true,
    };
    let r = run(kind, &table, &topo, &opts);
    eprintln!(
        "{}: in {:?} s, out {:?} s, peak RSS {:?}, notes {:#?}",
        r.receiver, r.converge_s, r.withdraw_s, r.peak_rss, r.notes
    );
    assert!(
        r.notes.is_empty(),
        "{} reported problems: {:#?}",
        r.receiver,
        r.notes
    );
    assert!(r.converge_s.is_some(), "{}: never converged", r.receiver);
    assert_eq!(
        r.verified,
        Some(true),
        "{}: kernel routes differ from the table",
        r.receiver
    );
    assert!(
        r.withdraw_s.is_some(),
        "{}: routes left after the sender left",
        r.receiver
    );
    assert!(
        r.peak_rss.unwrap_or(0) > 0,
        "{}: no RSS sampled",
        r.receiver
    );
    assert!(r.ok());
    r
}

#[test]
fn wgbgpd_installs_and_removes_a_small_full_feed() {
    smoke(ReceiverKind::Wgbgpd);
}

#[test]
fn bird_installs_and_removes_a_small_full_feed() {
    smoke(ReceiverKind::Bird);
}

/// The export side at a small size: wgbgpd takes 5,000 routes from the
/// sender and must advertise every one of them to a BIRD receiver (which
/// counts them as imported) — the same check the benchmark makes for BIRD.
#[test]
fn wgbgpd_exports_a_small_full_feed_to_bird() {
    integration::require_root();
    let topo = Topology::default();
    let table = generate(&topo.table_spec(5_000, 0, 43));
    let r = integration::bench::export::run_export(
        ReceiverKind::Wgbgpd,
        &table,
        &topo,
        Duration::from_secs(30),
    );
    eprintln!(
        "{}",
        integration::bench::export::markdown(std::slice::from_ref(&r))
    );
    assert!(r.notes.is_empty(), "export problems: {:#?}", r.notes);
    assert!(r.export_s.is_some(), "the receiver never had all routes");
    assert!(r.cpu_s.unwrap_or(-1.0) >= 0.0, "no exporter CPU sampled");
}
