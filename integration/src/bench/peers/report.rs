//! The many-peers results: medians per receiver and P, the memory one more
//! peer costs, a markdown table and JSON.
//!
//! Per-peer memory is given two ways: the slope of the median peak RSS
//! between one P and the next (what issue 17 quotes: "each extra peer
//! costs 63–64 KB"), and, within each run, what the sessions and their
//! routes added to the RSS the receiver had with every peer configured,
//! divided by P.

use serde_json::{Value, json};

use super::PeersResult;
use crate::bench::report::{Machine, median, notes_markdown};

/// The medians of one receiver at one P.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub receiver: String,
    pub peers: usize,
    pub runs: usize,
    pub ok_runs: usize,
    pub established_s: Option<f64>,
    pub fib_s: Option<f64>,
    pub peak_rss: Option<f64>,
    pub cpu_converge_s: Option<f64>,
    pub idle_cpu_percent: Option<f64>,
    pub added_per_peer: Option<f64>,
    /// (peak RSS here − peak RSS at the next smaller P) / (P − that P).
    pub peak_per_extra_peer: Option<f64>,
    /// Handshakes retried, summed over the runs.
    pub retries: usize,
    /// Load averages before each run.
    pub loads: Vec<String>,
}

/// Medians per (receiver, P), in the order the results came.
pub fn summarize(results: &[PeersResult]) -> Vec<Summary> {
    let mut keys: Vec<(String, usize)> = Vec::new();
    for r in results {
        let k = (r.info.name.clone(), r.peers);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut out: Vec<Summary> = keys
        .into_iter()
        .map(|(receiver, peers)| {
            let rs: Vec<&PeersResult> = results
                .iter()
                .filter(|r| r.info.name == receiver && r.peers == peers)
                .collect();
            let med = |f: &dyn Fn(&PeersResult) -> Option<f64>| {
                median(rs.iter().filter_map(|r| f(r)).collect())
            };
            Summary {
                runs: rs.len(),
                ok_runs: rs.iter().filter(|r| r.ok()).count(),
                established_s: med(&|r| r.established_s),
                fib_s: med(&|r| r.fib_s),
                peak_rss: med(&|r| r.peak_rss.map(|b| b as f64)),
                cpu_converge_s: med(&|r| r.cpu_converge_s),
                idle_cpu_percent: med(&|r| r.idle_cpu_percent),
                added_per_peer: med(&|r| r.added_per_peer()),
                peak_per_extra_peer: None,
                retries: rs.iter().map(|r| r.retries).sum(),
                loads: rs.iter().map(|r| r.info.load.clone()).collect(),
                receiver,
                peers,
            }
        })
        .collect();
    let snapshot = out.clone();
    for s in &mut out {
        let smaller = snapshot
            .iter()
            .filter(|o| o.receiver == s.receiver && o.peers < s.peers)
            .max_by_key(|o| o.peers);
        if let (Some(o), Some(here)) = (smaller, s.peak_rss)
            && let Some(there) = o.peak_rss
        {
            s.peak_per_extra_peer = Some((here - there) / (s.peers - o.peers) as f64);
        }
    }
    out
}

fn mb(b: f64) -> String {
    format!("{:.1} MB", b / 1e6)
}

fn kb(b: f64) -> String {
    format!("{:.1} KB", b / 1e3)
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "—".into())
}

/// wgbgpd / BIRD at each P where both ran: CPU to converge and memory per
/// extra peer (issue 17's targets: ≤ 1.0 each).
pub fn ratios(summaries: &[Summary]) -> Vec<(usize, Option<f64>, Option<f64>)> {
    let find = |name: &str, p: usize| {
        summaries
            .iter()
            .find(|s| s.receiver == name && s.peers == p)
    };
    let mut ps: Vec<usize> = summaries.iter().map(|s| s.peers).collect();
    ps.sort_unstable();
    ps.dedup();
    ps.into_iter()
        .filter_map(|p| {
            let (w, b) = (find("wgbgpd", p)?, find("bird", p)?);
            let r = |x: Option<f64>, y: Option<f64>| match (x, y) {
                (Some(x), Some(y)) if y > 0.0 => Some(x / y),
                _ => None,
            };
            Some((
                p,
                r(w.cpu_converge_s, b.cpu_converge_s),
                r(w.peak_per_extra_peer, b.peak_per_extra_peer),
            ))
        })
        .collect()
}

/// The medians as a markdown table, the ratios, then any problems.
pub fn markdown(machine: &Machine, routes: usize, results: &[PeersResult]) -> String {
    let summaries = summarize(results);
    let mut out = format!(
        "Many peers: P plain eBGP peers × {routes} routes each, sessions opened by the peers, \
         {} handshakes at a time; times from the first connect.\nMachine: {}\n\n",
        match results.first().map_or(0, |r| r.in_flight) {
            0 => "all".to_string(),
            n => n.to_string(),
        },
        machine.one_line()
    );
    out.push_str(
        "| P | receiver | all Established | all routes in kernel | peak RSS | per extra peer \
         (peak) | added per peer (run) | CPU to converge | idle CPU | runs ok | retries | load before runs |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in &summaries {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {}/{} | {} | {} |\n",
            s.peers,
            s.receiver,
            opt(s.established_s, |v| format!("{v:.2} s")),
            opt(s.fib_s, |v| format!("{v:.2} s")),
            opt(s.peak_rss, mb),
            opt(s.peak_per_extra_peer, kb),
            opt(s.added_per_peer, kb),
            opt(s.cpu_converge_s, |v| format!("{v:.2} s")),
            opt(s.idle_cpu_percent, |v| format!("{v:.2} %")),
            s.ok_runs,
            s.runs,
            s.retries,
            s.loads.join("; "),
        ));
    }
    let ratios = ratios(&summaries);
    if !ratios.is_empty() {
        out.push_str("\nwgbgpd / BIRD (medians; targets ≤ 1.0):\n");
        for (p, cpu, mem) in ratios {
            out.push_str(&format!(
                "- P = {p}: CPU to converge {}, memory per extra peer {}\n",
                opt(cpu, |v| format!("{v:.2}")),
                opt(mem, |v| format!("{v:.2}")),
            ));
        }
    }
    for r in results {
        let title = format!("{} with {} peers", r.info.name, r.peers);
        out.push_str(&notes_markdown(&title, &r.info.notes));
    }
    out
}

fn result_json(r: &PeersResult) -> Value {
    json!({
        "receiver": r.info.name,
        "version": r.info.version,
        "peers": r.peers,
        "routes_per_peer": r.routes_per_peer,
        "handshakes_in_flight": r.in_flight,
        "all_established_s": r.established_s,
        "all_routes_in_kernel_s": r.fib_s,
        "rss_configured_bytes": r.rss_configured,
        "rss_converged_bytes": r.rss_converged,
        "rss_idle_end_bytes": r.rss_idle_end,
        "peak_rss_bytes": r.peak_rss,
        "added_rss_per_peer_bytes": r.added_per_peer(),
        "cpu_start_s": r.cpu_start_s,
        "cpu_converge_s": r.cpu_converge_s,
        "idle_cpu_percent": r.idle_cpu_percent,
        "idle_s": r.idle_s,
        "handshake_retries": r.retries,
        "verified_by_dump": r.verified,
        "ok": r.ok(),
        "loadavg_before": r.info.load,
        "notes": r.info.notes,
    })
}

/// Every run and the medians as one JSON document.
pub fn json(machine: &Machine, routes: usize, results: &[PeersResult]) -> Value {
    let summaries = summarize(results);
    json!({
        "date": machine.date,
        "machine": machine.json(),
        "routes_per_peer": routes,
        "results": results.iter().map(result_json).collect::<Vec<_>>(),
        "medians": summaries.iter().map(|s| json!({
            "receiver": s.receiver,
            "peers": s.peers,
            "runs": s.runs,
            "ok_runs": s.ok_runs,
            "all_established_s": s.established_s,
            "all_routes_in_kernel_s": s.fib_s,
            "peak_rss_bytes": s.peak_rss,
            "peak_rss_per_extra_peer_bytes": s.peak_per_extra_peer,
            "added_rss_per_peer_bytes": s.added_per_peer,
            "cpu_converge_s": s.cpu_converge_s,
            "idle_cpu_percent": s.idle_cpu_percent,
            "handshake_retries": s.retries,
        })).collect::<Vec<_>>(),
        "wgbgpd_over_bird": ratios(&summaries).into_iter().map(|(p, cpu, mem)| json!({
            "peers": p,
            "cpu_converge": cpu,
            "memory_per_extra_peer": mem,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::RunInfo;

    fn run(receiver: &str, peers: usize, peak_mb: u64, cpu: f64) -> PeersResult {
        PeersResult {
            info: RunInfo {
                name: receiver.into(),
                ..RunInfo::default()
            },
            peers,
            established_s: Some(0.1),
            fib_s: Some(0.2),
            peak_rss: Some(peak_mb * 1_000_000),
            cpu_converge_s: Some(cpu),
            ..PeersResult::default()
        }
    }

    #[test]
    fn per_extra_peer_is_the_slope_of_median_peaks_and_ratios_pair_receivers() {
        let results = vec![
            run("wgbgpd", 10, 12, 0.1),
            run("bird", 10, 5, 0.1),
            run("wgbgpd", 100, 18, 0.3),
            run("wgbgpd", 100, 30, 0.5),
            run("wgbgpd", 100, 20, 0.4),
            run("bird", 100, 8, 0.2),
        ];
        let s = summarize(&results);
        let w100 = s
            .iter()
            .find(|s| s.receiver == "wgbgpd" && s.peers == 100)
            .unwrap();
        assert_eq!(w100.runs, 3);
        assert_eq!(w100.peak_rss, Some(20e6));
        // (20 − 12) MB over 90 more peers.
        let per = w100.peak_per_extra_peer.unwrap();
        assert!((per - 8e6 / 90.0).abs() < 1e-6, "{per}");
        assert_eq!(
            s.iter()
                .find(|s| s.peers == 10)
                .unwrap()
                .peak_per_extra_peer,
            None
        );
        let r = ratios(&s);
        assert_eq!(r.len(), 2);
        let (p, cpu, mem) = r[1];
        assert_eq!(p, 100);
        assert!((cpu.unwrap() - 2.0).abs() < 1e-9);
        // BIRD: 3 MB over 90 peers; wgbgpd 8 MB.
        assert!((mem.unwrap() - 8.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn added_per_peer_is_what_the_sessions_added() {
        let r = PeersResult {
            peers: 4,
            rss_configured: Some(1_000),
            rss_idle_end: Some(5_000),
            ..PeersResult::default()
        };
        assert_eq!(r.added_per_peer(), Some(1_000.0));
    }
}
