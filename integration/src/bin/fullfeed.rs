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
  --runs K: every receiver K times, in rounds (each round runs each receiver once, so a change in
  the machine's load falls on all of them); the target ratios are taken between medians
  --export: the export side instead: each receiver listed (wgbgpd, bird; default both) first takes
  the IPv4 table, then advertises it to a fresh BIRD receiver";

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
        if !receivers_given {
            a.receivers = vec![ReceiverKind::Wgbgpd, ReceiverKind::Bird];
        }
        if let Some(k) = a
            .receivers
            .iter()
            .find(|k| !matches!(k, ReceiverKind::Wgbgpd | ReceiverKind::Bird))
        {
            return Err(format!(
                "--export: `{}` cannot be an exporter (wgbgpd, bird)",
                k.name()
            ));
        }
        if a.v6 > 0 {
            return Err("--export is IPv4 only: leave --v6 at 0".into());
        }
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
            r.receiver,
            r.converge_s,
            r.withdraw_s,
            r.peak_rss,
            r.ok(),
            if r.notes.is_empty() {
                String::new()
            } else {
                format!("\n  {}", r.notes.join("\n  "))
            }
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

/// `--export`: each exporter in turn, then the table, JSON and exit status.
fn export(args: &Args, table: &integration::bench::Table, topo: &Topology) -> ExitCode {
    use integration::bench::export;
    let mut results = Vec::new();
    for kind in rounds(args, "export from ") {
        let r = export::run_export(kind, table, topo, args.opts.timeout);
        eprintln!(
            "fullfeed: {}: export {:?} s {}",
            r.exporter,
            r.export_s,
            r.notes.join("; ")
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
