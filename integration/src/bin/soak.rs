//! `soak`: the route churn soak (issue 6) — see integration/src/soak.rs and
//! scripts/soak.sh. Prints a markdown table, and JSON to `--json FILE`.
//! Must run as root. Exits non-zero when the kernel does not end with the
//! expected routes or fds leaked.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use integration::soak::{SoakOptions, run};

const USAGE: &str =
    "usage: soak [--seconds N] [--churn N] [--stable N] [--warmup SECS] [--json FILE]";

fn main() -> ExitCode {
    let mut opts = SoakOptions::default();
    let mut json: Option<PathBuf> = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let Some(v) = it.next() else {
            eprintln!("{flag} needs a value\n{USAGE}");
            return ExitCode::from(2);
        };
        let num = || v.replace('_', "").parse::<u64>();
        let r = match flag.as_str() {
            "--seconds" => num().map(|n| opts.duration = Duration::from_secs(n)),
            "--churn" => num().map(|n| opts.churn = n as usize),
            "--stable" => num().map(|n| opts.stable = n as usize),
            "--warmup" => num().map(|n| opts.warmup = Duration::from_secs(n)),
            "--json" => {
                json = Some(v.clone().into());
                Ok(())
            }
            _ => {
                eprintln!("unknown flag {flag}\n{USAGE}");
                return ExitCode::from(2);
            }
        };
        if r.is_err() {
            eprintln!("{flag}: `{v}` is not a number\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    integration::require_root();
    let r = run(&opts);
    println!("{}", r.table());
    let j = serde_json::to_string_pretty(&r.json()).unwrap_or_default();
    println!("{j}");
    if let Some(path) = json
        && let Err(e) = std::fs::write(&path, &j)
    {
        eprintln!("cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    let ok = r.notes.is_empty()
        && r.missing.is_empty()
        && r.extra.is_empty()
        && r.rib_mismatch.is_empty()
        && r.end.fds == r.start.fds;
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
