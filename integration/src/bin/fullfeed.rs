//! `fullfeed`: the full-table benchmark (see docs/benchmarks.md).
//!
//! Generates one table, then for each receiver builds a sender and a
//! receiver namespace, feeds the table, measures, tears down, and prints a
//! markdown table (and JSON with `--json FILE`). Must run as root.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use integration::bench::report::{self, Machine};
use integration::bench::{ReceiverKind, RunOptions, Topology, generate, run};

const USAGE: &str = "usage: fullfeed [--v4 N] [--v6 N] [--seed S] \
[--receivers wgbgpd,bird,frr,ip-batch,netlink,netlink-random] [--json FILE] [--markdown FILE] \
[--timeout SECS] [--poll-ms MS] [--no-verify] [--per-update K] [--runs K] [--export]
[--peers P,P,... [--routes-per-peer N] [--idle SECS] [--hold-time SECS] [--in-flight N]]
  --runs K: every receiver K times, in rounds (each round runs each receiver once, so a change in
  the machine's load falls on all of them); the target ratios are taken between medians
  --export: the export side instead: each receiver listed (wgbgpd, bird; default both) first takes
  the IPv4 table, then advertises it to a fresh BIRD receiver
  --peers P,...: many peers instead (issue 17): for each P, P plain eBGP peers announcing
  --routes-per-peer routes each (default 100) to each receiver (wgbgpd, bird; default both);
  idle CPU is measured over --idle seconds (default 30); the peers run --in-flight handshakes
  at a time (default 8, BIRD's listen backlog; 0: all at once); --v4/--v6 do not apply";

struct Args {
    v4: usize,
    v6: usize,
    seed: u64,
    per_update: usize,
    receivers: Vec<ReceiverKind>,
    json: Option<PathBuf>,
    markdown: Option<PathBuf>,
    opts: RunOptions,
    runs: usize,
    export: bool,
    /// `--peers`: the P values, and that mode's knobs.
    peers: Vec<usize>,
    peers_opts: integration::bench::peers::PeersOptions,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        v4: 100_000,
        v6: 0,
        seed: 1,
        per_update: 3,
        receivers: ReceiverKind::DEFAULT.to_vec(),
        json: None,
        markdown: None,
        opts: RunOptions::default(),
        runs: 1,
        export: false,
        peers: Vec::new(),
        peers_opts: Default::default(),
    };
    let mut receivers_given = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        let num = |v: String, name: &str| {
            v.replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("{name}: `{v}` is not a number"))
        };
        match flag.as_str() {
            "--v4" => a.v4 = num(value("--v4")?, "--v4")? as usize,
            "--v6" => a.v6 = num(value("--v6")?, "--v6")? as usize,
            "--seed" => a.seed = num(value("--seed")?, "--seed")?,
            "--per-update" => a.per_update = num(value("--per-update")?, "--per-update")? as usize,
            "--timeout" => {
                a.opts.timeout = Duration::from_secs(num(value("--timeout")?, "--timeout")?)
            }
            "--poll-ms" => {
                a.opts.poll = Duration::from_millis(num(value("--poll-ms")?, "--poll-ms")?)
            }
            "--no-verify" => a.opts.verify = false,
            "--runs" => a.runs = num(value("--runs")?, "--runs")? as usize,
            "--export" => a.export = true,
            "--peers" => {
                a.peers = value("--peers")?
                    .split(',')
                    .map(|p| num(p.trim().to_string(), "--peers").map(|n| n as usize))
                    .collect::<Result<_, _>>()?
            }
            "--routes-per-peer" => {
                a.peers_opts.routes =
                    num(value("--routes-per-peer")?, "--routes-per-peer")? as usize
            }
            "--idle" => a.peers_opts.idle = Duration::from_secs(num(value("--idle")?, "--idle")?),
            "--in-flight" => {
                a.peers_opts.in_flight = num(value("--in-flight")?, "--in-flight")? as usize
            }
            "--hold-time" => {
                a.peers_opts.hold_time = num(value("--hold-time")?, "--hold-time")? as u16
            }
            "--json" => a.json = Some(value("--json")?.into()),
            "--markdown" => a.markdown = Some(value("--markdown")?.into()),
            "--receivers" => {
                receivers_given = true;
                a.receivers = value("--receivers")?
                    .split(',')
                    .map(|s| ReceiverKind::parse(s.trim()).ok_or(format!("unknown receiver `{s}`")))
                    .collect::<Result<_, _>>()?
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    if a.export {
        wgbgpd_and_bird(&mut a.receivers, receivers_given).map_err(|k| {
            format!(
                "--export: `{}` cannot be an exporter (wgbgpd, bird)",
                k.name()
            )
        })?;
        if a.v6 > 0 {
            return Err("--export is IPv4 only: leave --v6 at 0".into());
        }
    }
    if !a.peers.is_empty() {
        wgbgpd_and_bird(&mut a.receivers, receivers_given)
            .map_err(|k| format!("--peers: `{}` is not measured (wgbgpd, bird)", k.name()))?;
        if a.export {
            return Err("--peers and --export are separate modes".into());
        }
        let max = integration::bench::peers::MAX_PEERS;
        if a.peers.iter().any(|p| !(1..=max).contains(p)) {
            return Err(format!("--peers: each P must be 1..={max}"));
        }
        a.peers_opts.per_update = a.per_update;
        a.peers_opts.verify = a.opts.verify;
        a.peers_opts.poll = a.opts.poll;
        a.peers_opts.timeout = a.opts.timeout;
    }
    if a.per_update == 0 {
        return Err("--per-update must be at least 1".into());
    }
    if a.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    integration::require_root();
    let machine = Machine::describe();
    if !args.peers.is_empty() {
        return peers(&args, &machine);
    }
    let topo = Topology::default();
    let mut spec = topo.table_spec(args.v4, args.v6, args.seed);
    spec.per_update = args.per_update;
    let t0 = Instant::now();
    let table = generate(&spec);
    eprintln!(
        "fullfeed: generated {} IPv4 + {} IPv6 prefixes in {} UPDATEs ({} attribute sets, {:.1} MB) in {:.1?}",
        table.v4.len(),
        table.v6.len(),
        table.updates,
        table.attribute_sets,
        table.stream.len() as f64 / 1e6,
        t0.elapsed()
    );
    if args.export {
        return export(&args, &table, &topo);
    }
    let mut results = Vec::new();
    for kind in rounds(&args, "") {
        let r = run(kind, &table, &topo, &args.opts);
        eprintln!(
            "fullfeed: {}: in {:?} s, out {:?} s, peak RSS {:?}, ok {}{}",
            r.info.name,
            r.converge_s,
            r.withdraw_s,
            r.peak_rss,
            r.ok(),
            r.info.notes_lines()
        );
        results.push(r);
    }
    let mut md = report::markdown(&table, &machine, &results);
    if let Some(t) = report::targets(&results) {
        md.push('\n');
        md.push_str(&t);
    }
    let json = || report::json(&table, &machine, &results);
    finish(&args, &md, json, results.iter().all(|r| r.ok()))
}

/// `--export` and `--peers` measure wgbgpd and BIRD only: both of them
/// unless `--receivers` named some (`given`); `Err` names any other.
fn wgbgpd_and_bird(receivers: &mut Vec<ReceiverKind>, given: bool) -> Result<(), ReceiverKind> {
    if !given {
        *receivers = vec![ReceiverKind::Wgbgpd, ReceiverKind::Bird];
    }
    match receivers
        .iter()
        .find(|k| !matches!(k, ReceiverKind::Wgbgpd | ReceiverKind::Bird))
    {
        Some(k) => Err(*k),
        None => Ok(()),
    }
}

/// `--export`: each exporter in turn, then the table, JSON and exit status.
fn export(args: &Args, table: &integration::bench::Table, topo: &Topology) -> ExitCode {
    use integration::bench::export;
    let mut results = Vec::new();
    for kind in rounds(args, "export from ") {
        let r = export::run_export(kind, table, topo, args.opts.timeout);
        eprintln!(
            "fullfeed: {}: export {:?} s {}",
            r.info.name,
            r.export_s,
            r.info.notes.join("; ")
        );
        results.push(r);
    }
    let md = export::markdown(&results);
    let json = || export::json(&results);
    finish(args, &md, json, results.iter().all(|r| r.ok()))
}

/// Each receiver (or exporter) in turn, `--runs` times over, each announced
/// on stderr (`what` before its name) as its run starts.
fn rounds<'a>(args: &'a Args, what: &'a str) -> impl Iterator<Item = ReceiverKind> + 'a {
    (1..=args.runs).flat_map(move |round| {
        args.receivers.iter().map(move |kind| {
            eprintln!(
                "fullfeed: {what}{} (run {round} of {}, load {}) ...",
                kind.name(),
                args.runs,
                integration::bench::run::loadavg()
            );
            *kind
        })
    })
}

/// Prints the Markdown report, writes it and the JSON where `args` ask, and
/// succeeds only if every run did.
fn finish(
    args: &Args,
    md: &str,
    json: impl FnOnce() -> serde_json::Value,
    all_ok: bool,
) -> ExitCode {
    println!("{md}");
    if let Some(p) = &args.markdown
        && let Err(e) = std::fs::write(p, md)
    {
        eprintln!("cannot write {}: {e}", p.display());
        return ExitCode::FAILURE;
    }
    if let Some(p) = &args.json {
        let text = serde_json::to_string_pretty(&json()).expect("JSON of plain values");
        if let Err(e) = std::fs::write(p, text + "\n") {
            eprintln!("cannot write {}: {e}", p.display());
            return ExitCode::FAILURE;
        }
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--peers`: for each P, each receiver `--runs` times in rounds, then the
/// table, JSON and exit status.
fn peers(args: &Args, machine: &Machine) -> ExitCode {
    use integration::bench::peers::{report as peers_report, run_peers};
    let opts = &args.peers_opts;
    let mut results = Vec::new();
    for &p in &args.peers {
        for round in 1..=args.runs {
            for kind in &args.receivers {
                eprintln!(
                    "fullfeed: {} with {p} peers × {} routes (run {round} of {}, load {}) ...",
                    kind.name(),
                    opts.routes,
                    args.runs,
                    integration::bench::run::loadavg()
                );
                let r = run_peers(*kind, p, opts);
                eprintln!(
                    "fullfeed: {}: all Established {:?} s, all in kernel {:?} s, CPU {:?} s, \
                     peak RSS {:?}, idle CPU {:?} %, ok {}{}",
                    r.info.name,
                    r.established_s,
                    r.fib_s,
                    r.cpu_converge_s,
                    r.peak_rss,
                    r.idle_cpu_percent,
                    r.ok(),
                    r.info.notes_lines()
                );
                results.push(r);
            }
        }
    }
    let md = peers_report::markdown(machine, opts.routes, &results);
    println!("{md}");
    if let Some(p) = &args.markdown
        && let Err(e) = std::fs::write(p, &md)
    {
        eprintln!("cannot write {}: {e}", p.display());
        return ExitCode::FAILURE;
    }
    if let Some(p) = &args.json {
        let doc = peers_report::json(machine, opts.routes, &results);
        let text = serde_json::to_string_pretty(&doc).expect("plain JSON");
        if let Err(e) = std::fs::write(p, text + "\n") {
            eprintln!("cannot write {}: {e}", p.display());
            return ExitCode::FAILURE;
        }
    }
    if results.iter().all(|r| r.ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
