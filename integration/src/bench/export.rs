//! The export side of the full-table benchmark: how fast an exporter that
//! holds the whole table advertises it to a fresh BIRD receiver.
//!
//! ```text
//!  sender netns              exporter netns                     receiver netns
//!  fullfeed speaker ── veth ── wgbgpd | BIRD (kernel too) ── veth ── BIRD (import all, no kernel)
//!  fs0 10.77.0.1/24   fr0 10.77.0.2/24     fx0 10.78.0.1/24   fy0 10.78.0.2/24
//!  AS 64600           AS 64700                                AS 64800
//! ```
//!
//! The exporter first takes the table from our sender and installs it (as in
//! [`super::run`]); once its kernel holds every route the receiver BIRD is
//! started. It connects to the (passive) exporter, and the clock runs from
//! the first poll that sees the receiver's session Established to the first
//! that sees all N routes imported (`birdc show protocols all`, every 10 ms).
//! The receiver is the same BIRD with the same configuration for every
//! exporter, so the difference between runs is the exporter's.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::Topology;
use super::monitor::RouteMonitor;
use super::probe::{RouteCount, sample};
use super::receivers::{self, ReceiverKind};
use super::report::RunInfo;
use super::speaker::Session;
use super::table::Table;
use crate::config::Peer;
use crate::{Bird, Netns, Wgbgpd, link};

/// The exporter ↔ receiver link and the receiver's AS.
const EXPORTER_OUT: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const RECEIVER: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
const RECEIVER_ASN: u32 = 64_800;

/// What one export run measured (times in seconds).
#[derive(Debug, Clone, Default)]
pub struct ExportResult {
    /// Who ran, the load before, and what went wrong.
    pub info: RunInfo,
    pub routes: usize,
    /// Receiver Established → receiver has all routes.
    pub export_s: Option<f64>,
    /// Exporter CPU seconds over the same interval.
    pub cpu_s: Option<f64>,
    /// Exporter RSS when the receiver had everything, bytes.
    pub rss: Option<u64>,
    /// Receiver CPU seconds over the export (tells whether it was the bottleneck).
    pub receiver_cpu_s: Option<f64>,
}

impl ExportResult {
    pub fn ok(&self) -> bool {
        self.export_s.is_some() && self.info.notes.is_empty()
    }
}

/// wgbgpd as the exporter: the feed in (accept all), everything out to the
/// receiver, routes installed in the kernel as in the import benchmark.
pub fn wgbgpd_config(t: &Topology) -> String {
    let receiver = Peer::plain(
        "receiver",
        RECEIVER_ASN,
        &RECEIVER.to_string(),
        &EXPORTER_OUT.to_string(),
    )
    .set("passive", "true")
    .set("hold_time", "240")
    .policies("nothing", "accept-all");
    receivers::wgbgpd_receiver(t, "feed")
        .peer(receiver)
        .render()
}

/// BIRD as the exporter: the import benchmark's receiver plus a passive
/// session exporting everything to the receiver.
pub fn bird_config(t: &Topology) -> String {
    format!(
        r#"{base}protocol bgp receiver {{
    local {out} as {asn};
    neighbor {rx} as {rx_asn};
    passive on;
    hold time 240;
    ipv4 {{ import none; export all; }};
}}
"#,
        base = receivers::bird_config(t),
        out = EXPORTER_OUT,
        asn = t.receiver_asn,
        rx = RECEIVER,
        rx_asn = RECEIVER_ASN,
    )
}

/// The receiver: one active session to the exporter, import all, no kernel.
pub fn receiver_config(t: &Topology) -> String {
    format!(
        r#"router id {rx};
protocol device {{ }}
protocol bgp exporter {{
    local {rx} as {rx_asn};
    neighbor {out} as {asn};
    hold time 240;
    connect delay time 1;
    ipv4 {{ import all; export none; }};
}}
"#,
        rx = RECEIVER,
        rx_asn = RECEIVER_ASN,
        out = EXPORTER_OUT,
        asn = t.receiver_asn,
    )
}

/// From `birdc show protocols all NAME`: whether the session is Established
/// and how many routes its channels imported (summed).
pub fn parse_protocol_all(text: &str) -> (bool, u64) {
    let established = text
        .lines()
        .any(|l| l.contains("BGP state:") && l.contains("Established"));
    let imported = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Routes:"))
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            let n = words.next()?.parse::<u64>().ok()?;
            (words.next()? == "imported,").then_some(n)
        })
        .sum();
    (established, imported)
}

/// Runs one export measurement with `kind` (wgbgpd or BIRD) as the exporter.
pub fn run_export(
    kind: ReceiverKind,
    table: &Table,
    t: &Topology,
    timeout: Duration,
) -> ExportResult {
    let n = table.v4.len();
    let mut res = ExportResult {
        info: RunInfo::new(kind),
        routes: n,
        ..ExportResult::default()
    };
    assert!(table.v6.is_empty(), "the export benchmark is IPv4 only");
    let s = Netns::new("xsnd");
    let x = Netns::new("xexp");
    let r = Netns::new("xrcv");
    link(
        (&s, "fs0", &format!("{}/24", t.sender_v4)),
        (&x, "fr0", &format!("{}/24", t.receiver_v4)),
    );
    link(
        (&x, "fx0", &format!("{EXPORTER_OUT}/24")),
        (&r, "fy0", &format!("{RECEIVER}/24")),
    );
    let counter = RouteMonitor::start(&x, kind.protocol());
    enum Exporter {
        Wgbgpd(Wgbgpd),
        Bird(Bird),
    }
    let mut exporter = match kind {
        ReceiverKind::Wgbgpd => Exporter::Wgbgpd(Wgbgpd::start(&x, &wgbgpd_config(t))),
        ReceiverKind::Bird => Exporter::Bird(Bird::start(&x, &bird_config(t))),
        other => panic!("{} cannot be an exporter here", other.name()),
    };
    std::thread::sleep(Duration::from_secs(1));
    let base = counter.count();
    let cfg = t.speaker_config();
    let session = match s.in_ns(|| Session::connect(&cfg, Duration::from_secs(60))) {
        Ok(s) => s,
        Err(e) => {
            res.info
                .notes
                .push(format!("feed session not established: {e}"));
            return res;
        }
    };
    if let Err(e) = session.send_stream(&table.stream) {
        res.info
            .notes
            .push(format!("sending the table failed: {e}"));
        return res;
    }
    let full = |c: RouteCount| c.v4 >= base.v4 + n as u64;
    if let Err(c) = counter.wait(timeout, Duration::from_millis(50), full) {
        res.info.notes.push(format!(
            "exporter took only {} of {n} routes into its kernel",
            c.v4 - base.v4
        ));
        return res;
    }
    // Let the exporter finish whatever follows the last install.
    std::thread::sleep(Duration::from_secs(2));
    let me = std::process::id();
    let pids: Vec<u32> = x.pids().into_iter().filter(|p| *p != me).collect();
    let mut receiver = Bird::start(&r, &receiver_config(t));
    let rx_pids: Vec<u32> = r.pids().into_iter().filter(|p| *p != me).collect();
    let start = Instant::now();
    let mut established: Option<(Instant, f64, f64)> = None;
    loop {
        let text = receiver
            .try_birdc("show protocols all exporter")
            .unwrap_or_default();
        let at = Instant::now();
        let (up, imported) = parse_protocol_all(&text);
        if up && established.is_none() {
            established = Some((at, sample(&pids).cpu, sample(&rx_pids).cpu));
        }
        if let Some((est, cpu0, rx_cpu0)) = established
            && imported >= n as u64
        {
            let sm = sample(&pids);
            res.export_s = Some(at.saturating_duration_since(est).as_secs_f64());
            res.cpu_s = Some(sm.cpu - cpu0);
            res.rss = Some(sm.rss);
            res.receiver_cpu_s = Some(sample(&rx_pids).cpu - rx_cpu0);
            break;
        }
        if start.elapsed() > timeout {
            res.info.notes.push(format!(
                "receiver has {imported} of {n} routes after {timeout:?} (Established: {})",
                established.is_some()
            ));
            break;
        }
        receiver.check_alive();
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Some(f) = session.failure() {
        res.info.notes.push(format!("feed session failed: {f}"));
    }
    match &mut exporter {
        Exporter::Wgbgpd(d) => d.check_alive(),
        Exporter::Bird(b) => b.check_alive(),
    }
    session.close();
    drop(receiver);
    drop(exporter);
    drop(counter);
    drop((r, x, s));
    std::thread::sleep(Duration::from_secs(2));
    res
}

/// A markdown table of export runs, with the wgbgpd / BIRD ratio.
pub fn markdown(results: &[ExportResult]) -> String {
    let mut md = String::from(
        "| exporter | receiver Established → all routes at the receiver | exporter CPU | receiver CPU | exporter RSS | load |\n|---|---|---|---|---|---|\n",
    );
    let f = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.2} s"));
    for r in results {
        md.push_str(&format!(
            "| {} ({}) | {} | {} | {} | {} | {} |\n",
            r.info.name,
            r.info.version,
            f(r.export_s),
            f(r.cpu_s),
            f(r.receiver_cpu_s),
            r.rss.map_or("—".into(), |b| format!("{} MiB", b >> 20)),
            r.info.load
        ));
    }
    // Medians over the runs of each exporter (`--runs`).
    let by = |name: &str| {
        let times = results.iter().filter(|r| r.info.name == name);
        super::report::median(times.filter_map(|r| r.export_s).collect())
    };
    if let (Some(w), Some(b)) = (by("wgbgpd"), by("bird")) {
        let runs = results.iter().filter(|r| r.info.name == "bird").count();
        let over = if runs > 1 { " (medians)" } else { "" };
        md.push_str(&format!(
            "\nwgbgpd / BIRD{over}: export {:.2} (target ≤ 0.6)\n",
            w / b
        ));
    }
    md
}

/// The runs as JSON.
pub fn json(results: &[ExportResult]) -> serde_json::Value {
    serde_json::Value::Array(
        results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "exporter": r.info.name,
                    "version": r.info.version,
                    "routes": r.routes,
                    "export_s": r.export_s,
                    "cpu_s": r.cpu_s,
                    "receiver_cpu_s": r.receiver_cpu_s,
                    "rss_bytes": r.rss,
                    "load": r.info.load,
                    "notes": r.info.notes,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_all_gives_state_and_imported_routes() {
        let text = "Name       Proto      Table      State  Since         Info
exporter   BGP        ---        up     12:00:00.000  Established
  BGP state:          Established
    Neighbor address: 10.78.0.1
  Channel ipv4
    State:          UP
    Routes:         250000 imported, 0 exported, 250000 preferred
";
        assert_eq!(parse_protocol_all(text), (true, 250_000));
        let connecting = "  BGP state:          Connect\n";
        assert_eq!(parse_protocol_all(connecting), (false, 0));
    }

    #[test]
    fn exporter_configs_add_the_receiver_session() {
        let t = Topology::default();
        let w = wgbgpd_config(&t);
        assert!(
            w.contains("receiver:\n    asn: 64800\n    address: \"10.78.0.2\""),
            "{w}"
        );
        assert_eq!(w.matches("policies:").count(), 1, "{w}");
        let b = bird_config(&t);
        assert!(
            b.contains("protocol bgp receiver") && b.contains("protocol bgp feed"),
            "{b}"
        );
    }
}
