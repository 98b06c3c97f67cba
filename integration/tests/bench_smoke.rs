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
//! The many-peers mode (`fullfeed --peers`) runs at 5 peers × 10 routes.
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
        r.info.name, r.converge_s, r.withdraw_s, r.peak_rss, r.info.notes
    );
    assert!(
        r.info.notes.is_empty(),
        "{} reported problems: {:#?}",
        r.info.name,
        r.info.notes
    );
    assert!(r.converge_s.is_some(), "{}: never converged", r.info.name);
    assert_eq!(
        r.verified,
        Some(true),
        "{}: kernel routes differ from the table",
        r.info.name
    );
    assert!(
        r.withdraw_s.is_some(),
        "{}: routes left after the sender left",
        r.info.name
    );
    assert!(
        r.peak_rss.unwrap_or(0) > 0,
        "{}: no RSS sampled",
        r.info.name
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
    assert!(
        r.info.notes.is_empty(),
        "export problems: {:#?}",
        r.info.notes
    );
    assert!(r.export_s.is_some(), "the receiver never had all routes");
    assert!(r.cpu_s.unwrap_or(-1.0) >= 0.0, "no exporter CPU sampled");
}

/// The many-peers benchmark (`fullfeed --peers`, issue 17) at a tiny size:
/// 5 peers × 10 routes into `kind`, idle measured for 1 s. Every session
/// must come up, every route must reach the kernel through its own peer
/// (checked by a full dump), and every figure of the report must be there.
fn peers_smoke(kind: ReceiverKind) {
    use integration::bench::peers::{PeersOptions, report, run_peers};
    integration::require_root();
    let opts = PeersOptions {
        routes: 10,
        idle: Duration::from_secs(1),
        timeout: Duration::from_secs(30),
        ..PeersOptions::default()
    };
    let r = run_peers(kind, 5, &opts);
    eprintln!("{r:#?}");
    assert!(
        r.info.notes.is_empty(),
        "{} reported problems: {:#?}",
        r.info.name,
        r.info.notes
    );
    assert!(
        r.established_s.is_some(),
        "{}: not all sessions came up",
        r.info.name
    );
    assert!(
        r.fib_s.is_some(),
        "{}: not all routes reached the kernel",
        r.info.name
    );
    assert!(r.fib_s.unwrap() > 0.0);
    assert_eq!(
        r.verified,
        Some(true),
        "{}: kernel routes differ",
        r.info.name
    );
    assert!(r.peak_rss.unwrap_or(0) >= r.rss_idle_end.unwrap_or(u64::MAX));
    assert!(
        r.rss_configured.unwrap_or(0) > 0,
        "no RSS before the sessions"
    );
    assert!(
        r.cpu_converge_s.is_some_and(|c| c >= 0.0),
        "no convergence CPU"
    );
    assert!(r.idle_cpu_percent.is_some_and(|c| c >= 0.0), "no idle CPU");
    assert!(r.idle_s >= 1.0, "idle window {} s", r.idle_s);
    assert!(r.ok());
    let machine = integration::bench::report::Machine::describe();
    let md = report::markdown(&machine, 10, std::slice::from_ref(&r));
    assert!(md.contains(&format!("| 5 | {} |", r.info.name)), "{md}");
    let json = report::json(&machine, 10, std::slice::from_ref(&r));
    assert_eq!(json["medians"][0]["peers"], 5);
    assert_eq!(json["results"][0]["ok"], true);
}

#[test]
fn wgbgpd_takes_routes_from_a_few_peers() {
    peers_smoke(ReceiverKind::Wgbgpd);
}

#[test]
fn bird_takes_routes_from_a_few_peers() {
    peers_smoke(ReceiverKind::Bird);
}
