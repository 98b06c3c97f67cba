//! Results as a markdown table and as JSON, with the machine they were
//! measured on.

use serde_json::{Value, json};

use super::receivers::ReceiverKind;
use super::run::RunResult;
use super::table::Table;

/// Where and when.
#[derive(Debug, Clone)]
pub struct Machine {
    /// UTC, `date -u +%Y-%m-%dT%H:%M:%SZ`.
    pub date: String,
    pub nproc: usize,
    /// MemTotal, bytes.
    pub memory: u64,
    pub kernel: String,
    pub cpu_model: String,
    /// `/proc/loadavg` when the benchmark started.
    pub load: String,
}

impl Machine {
    pub fn describe() -> Machine {
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024;
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_default();
        Machine {
            date,
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            memory,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            cpu_model,
            load: super::run::loadavg(),
        }
    }

    pub fn one_line(&self) -> String {
        format!(
            "{}; {} CPUs ({}), {:.1} GiB, Linux {}; load at start {}",
            self.date,
            self.nproc,
            self.cpu_model,
            self.memory as f64 / (1u64 << 30) as f64,
            self.kernel,
            self.load
        )
    }

    /// The description as the `machine` object of the JSON reports.
    pub fn json(&self) -> Value {
        json!({
            "nproc": self.nproc,
            "memory_bytes": self.memory,
            "kernel": self.kernel,
            "cpu_model": self.cpu_model,
            "loadavg_at_start": self.load,
        })
    }
}

/// Who ran, under what load, and what went wrong: what the results of
/// every benchmark (full table, export, many peers) share.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// The receiver (or exporter): `wgbgpd`, `bird`, ...
    pub name: String,
    pub version: String,
    /// `/proc/loadavg` before the run.
    pub load: String,
    /// Problems: timeouts, verification mismatches, session failures.
    pub notes: Vec<String>,
}

impl RunInfo {
    /// A run of `kind` starting now.
    pub fn new(kind: ReceiverKind) -> RunInfo {
        RunInfo {
            name: kind.name().to_string(),
            version: super::receivers::version(kind),
            load: super::run::loadavg(),
            notes: Vec::new(),
        }
    }

    /// The notes, each on a line of its own after a progress line; nothing
    /// when there are none.
    pub fn notes_lines(&self) -> String {
        if self.notes.is_empty() {
            String::new()
        } else {
            format!("\n  {}", self.notes.join("\n  "))
        }
    }
}

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / (1u64 << 20) as f64)
}

fn opt_s(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "—".into())
}

/// Peak RSS per route, as the table defines bytes/route.
pub fn bytes_per_route(r: &RunResult) -> Option<f64> {
    let n = (r.v4 + r.v6) as f64;
    r.peak_rss.map(|p| p as f64 / n)
}

/// (RSS at convergence − RSS before the session) per route.
pub fn added_bytes_per_route(r: &RunResult) -> Option<f64> {
    let n = (r.v4 + r.v6) as f64;
    match (r.rss_converged, r.rss_idle) {
        (Some(c), Some(i)) => Some(c.saturating_sub(i) as f64 / n),
        _ => None,
    }
}

/// The results table in markdown (one row per run).
pub fn markdown(table: &Table, machine: &Machine, results: &[RunResult]) -> String {
    let mut out = format!(
        "Table: {} IPv4 + {} IPv6 prefixes, {} UPDATEs ({} prefixes each), {} distinct \
         attribute sets, {:.1} MB on the wire, seed {}.\nMachine: {}\n\n",
        table.v4.len(),
        table.v6.len(),
        table.updates,
        table.spec.per_update,
        table.attribute_sets,
        table.stream.len() as f64 / 1e6,
        table.spec.seed,
        machine.one_line()
    );
    out.push_str(
        "| receiver | Established → all in kernel | stream taken | sender gone → kernel clean \
         | peak RSS (at conv.) | bytes/route (peak) | RSS added/route | CPU in | CPU out | check | load |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let check = match (r.ok(), r.verified) {
            (true, Some(true)) => "ok (dump)".to_string(),
            (true, _) => "ok".to_string(),
            (false, _) => "FAIL".to_string(),
        };
        out.push_str(&format!(
            "| {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.info.name,
            r.info.version,
            opt_s(r.converge_s),
            opt_s(r.stream_s),
            opt_s(r.withdraw_s),
            match (r.peak_rss, r.peak_rss_converged) {
                (Some(p), Some(c)) => format!("{} ({})", mib(p), mib(c)),
                (Some(p), None) => mib(p),
                _ => "—".into(),
            },
            bytes_per_route(r)
                .map(|b| format!("{b:.0}"))
                .unwrap_or_else(|| "—".into()),
            added_bytes_per_route(r)
                .map(|b| format!("{b:.0}"))
                .unwrap_or_else(|| "—".into()),
            opt_s(r.cpu_converge_s),
            opt_s(r.cpu_withdraw_s),
            check,
            r.info.load,
        ));
    }
    for r in results {
        out.push_str(&notes_markdown(&r.info.name, &r.info.notes));
    }
    out
}

/// A run's problems under a `TITLE:` line, each indented and cut to its
/// first 25 lines (a log tail is enough to see what went wrong); nothing
/// for a run without any.
pub fn notes_markdown(title: &str, notes: &[String]) -> String {
    if notes.is_empty() {
        return String::new();
    }
    let mut out = format!("\n{title}:\n");
    for line in notes.iter().flat_map(|n| n.lines().take(25)) {
        out.push_str(&format!("    {line}\n"));
    }
    out
}

/// The median of some values (the mean of the middle two for an even
/// count); `None` for none.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// wgbgpd / BIRD for the targets: (time to FIB, withdraw, peak
/// bytes/route), each the ratio of the two receivers' medians over their
/// runs, so one noisy run on a shared machine does not decide it.
pub fn target_ratios(results: &[RunResult]) -> Option<(usize, [Option<f64>; 3])> {
    let of = |name: &str| -> Vec<&RunResult> {
        results.iter().filter(|r| r.info.name == name).collect()
    };
    let (w, b) = (of("wgbgpd"), of("bird"));
    if w.is_empty() || b.is_empty() {
        return None;
    }
    let med = |rs: &[&RunResult], f: &dyn Fn(&RunResult) -> Option<f64>| {
        median(rs.iter().filter_map(|r| f(r)).collect())
    };
    let ratio = |f: &dyn Fn(&RunResult) -> Option<f64>| match (med(&w, f), med(&b, f)) {
        (Some(x), Some(y)) if y > 0.0 => Some(x / y),
        _ => None,
    };
    Some((
        w.len().min(b.len()),
        [
            ratio(&|r| r.converge_s),
            ratio(&|r| r.withdraw_s),
            ratio(&bytes_per_route),
        ],
    ))
}

/// The target line under the table, if wgbgpd and BIRD both ran.
pub fn targets(results: &[RunResult]) -> Option<String> {
    let (runs, [fib, withdraw, bytes]) = target_ratios(results)?;
    let f = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into());
    let over = if runs > 1 {
        format!(" (medians of {runs} runs each)")
    } else {
        String::new()
    };
    Some(format!(
        "wgbgpd / BIRD{over}: time to FIB {} (target ≤ 0.7), withdraw {} (target ≤ 0.7), \
         peak bytes/route {} (target ≤ 1.0)\n",
        f(fib),
        f(withdraw),
        f(bytes),
    ))
}

fn result_json(r: &RunResult) -> Value {
    json!({
        "receiver": r.info.name,
        "version": r.info.version,
        "ipv4_prefixes": r.v4,
        "ipv6_prefixes": r.v6,
        "established_to_fib_s": r.converge_s,
        "established_to_stream_taken_s": r.stream_s,
        "sender_gone_to_clean_s": r.withdraw_s,
        "rss_idle_bytes": r.rss_idle,
        "rss_converged_bytes": r.rss_converged,
        "peak_rss_bytes": r.peak_rss,
        "peak_rss_at_convergence_bytes": r.peak_rss_converged,
        "peak_bytes_per_route": bytes_per_route(r),
        "added_rss_bytes_per_route": added_bytes_per_route(r),
        "cpu_converge_s": r.cpu_converge_s,
        "cpu_withdraw_s": r.cpu_withdraw_s,
        "verified_by_dump": r.verified,
        "ok": r.ok(),
        "loadavg_before": r.info.load,
        "notes": r.info.notes,
    })
}

/// Everything as one JSON document.
pub fn json(table: &Table, machine: &Machine, results: &[RunResult]) -> Value {
    json!({
        "date": machine.date,
        "machine": machine.json(),
        "table": {
            "ipv4_prefixes": table.v4.len(),
            "ipv6_prefixes": table.v6.len(),
            "updates": table.updates,
            "prefixes_per_update": table.spec.per_update,
            "distinct_attribute_sets": table.attribute_sets,
            "stream_bytes": table.stream.len(),
            "seed": table.spec.seed,
        },
        "results": results.iter().map(result_json).collect::<Vec<_>>(),
        "wgbgpd_over_bird_medians": target_ratios(results).map(|(runs, [fib, withdraw, bytes])| json!({
            "runs": runs,
            "established_to_fib": fib,
            "sender_gone_to_clean": withdraw,
            "peak_bytes_per_route": bytes,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_even_and_no_values() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
