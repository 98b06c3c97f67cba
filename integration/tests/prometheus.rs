//! The metrics as Prometheus itself sees them: `promtool check metrics` lints
//! a scrape of a running wgbgpd, and a real Prometheus server (Debian's
//! `prometheus`) scrapes it and answers queries about the session.
//!
//! ```text
//!   +------+ 10.9.2.1      10.9.2.2 +------+
//!   |  A   |------------------------|  B   |  announces 203.0.113.0/24
//!   +------+  AS 65501              +------+  AS 65502
//!   wgbgpd, /metrics on 127.0.0.1:9179, Prometheus on 127.0.0.1:9090 (in A)
//! ```

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use integration::metrics::{http_get, scrape, value};
use integration::{Netns, Pair, TempDir, Wgbgpd, require_root, wait_for};
use serde_json::Value;

const T: Duration = Duration::from_secs(40);
const METRICS: &str = "127.0.0.1:9179";
const PROMETHEUS: &str = "127.0.0.1:9090";

const A: &str = r#"router_id: 10.9.0.1
asn: 65501
loopback: [10.9.0.1/32]
metrics: { listen: "127.0.0.1:9179" }
peers:
  b:
    asn: 65502
    address: 10.9.2.2
    local_address: 10.9.2.1
    import: [all]
    export: [all]
policies:
  all:
    - action: accept
"#;

const B: &str = r#"router_id: 10.9.0.2
asn: 65502
loopback: [10.9.0.2/32]
announce: [203.0.113.0/24]
peers:
  a:
    asn: 65501
    address: 10.9.2.1
    local_address: 10.9.2.2
    import: [all]
    export: [all]
policies:
  all:
    - action: accept
"#;

const PEER: &str = r#"name="b",peer="10.9.2.2",peer_as="65502""#;

/// Runs `promtool check metrics` on `text`; Err with its complaints.
fn promtool_check(text: &str) -> Result<String, String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(said)
    } else {
        Err(said)
    }
}

/// `query` evaluated by the Prometheus server in `ns`: the (labels, value)
/// of each series of the instant vector.
fn query(ns: &Netns, query: &str) -> Result<Vec<(Value, f64)>, String> {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let response = http_get(ns, PROMETHEUS, &format!("/api/v1/query?query={encoded}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or_else(|| format!("no answer from Prometheus: {response:?}"))?;
    let json: Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
    if json["status"] != "success" {
        return Err(format!("{json}"));
    }
    Ok(json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            let v = s["value"][1].as_str().and_then(|v| v.parse().ok());
            (s["metric"].clone(), v.unwrap_or(f64::NAN))
        })
        .collect())
}

#[test]
fn promtool_accepts_the_metrics_and_prometheus_scrapes_them() {
    require_root();
    let Pair {
        a: a_ns, b: b_ns, ..
    } = Pair::new("p", "eth1", "10.9.2");
    let mut a = Wgbgpd::start(&a_ns, A);
    // The first scrape, before B runs: the peer's counters are there at 0
    // (so rate() and increase() see the first flap, UPDATE, NOTIFICATION),
    // and wgbgp_peer_established says 0 with frr_exporter's labels.
    let first = scrape(&a_ns, METRICS);
    for series in [
        format!("wgbgp_session_flaps_total{{{PEER}}}"),
        format!("wgbgp_messages_received_total{{{PEER},type=\"update\"}}"),
        format!("wgbgp_messages_sent_total{{{PEER},type=\"update\"}}"),
        format!(
            "wgbgp_notifications_total{{code=\"6\",direction=\"received\",{PEER},subcode=\"0\"}}"
        ),
        format!(
            "wgbgp_notifications_total{{code=\"4\",direction=\"sent\",{PEER},subcode=\"0\"}}"
        ),
        r#"wgbgp_peer_established{description="",local_as="65501",name="b",peer="10.9.2.2",remote_as="65502"}"#
            .to_string(),
    ] {
        assert_eq!(value(&first, &series), Some(0.0), "{series} in the first scrape:\n{first}");
    }
    let _b = Wgbgpd::start(&b_ns, B);
    a.wait_established(&a_ns, "10.9.2.2", T);

    // Every family the daemon exposes once a session is up and counted.
    let text = wait_for(T, Duration::from_millis(250), "a full scrape", || {
        let text = scrape(&a_ns, METRICS);
        let received = value(
            &text,
            &format!("wgbgp_prefixes_received{{afi=\"ipv4\",{PEER},safi=\"unicast\"}}"),
        );
        match received {
            Some(1.0) => Ok(text),
            _ => Err(text),
        }
    });
    let established = r#"wgbgp_peer_established{description="",local_as="65501",name="b",peer="10.9.2.2",remote_as="65502"}"#;
    assert_eq!(value(&text, established), Some(1.0), "{text}");
    match promtool_check(&text) {
        Ok(said) => eprintln!("promtool check metrics: ok {said}"),
        Err(said) => panic!("promtool check metrics found problems:\n{said}\n--- scrape:\n{text}"),
    }

    // A real Prometheus in A's namespace scrapes it every second.
    let dir = TempDir::new("prom");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
             scrape_configs:\n  - job_name: wgbgpd\n    static_configs:\n      - targets: [\"{METRICS}\"]\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut prometheus = a_ns.spawn({
        let mut cmd = a_ns.command(&[
            "prometheus".to_string(),
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address={PROMETHEUS}"),
            "--log.level=warn".to_string(),
        ]);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    });
    wait_for(
        T,
        Duration::from_millis(500),
        "Prometheus scraped wgbgpd",
        || {
            let up = query(&a_ns, "up{job=\"wgbgpd\"}")?;
            match up.as_slice() {
                [(_, v)] if *v == 1.0 => Ok(()),
                other => Err(format!("up = {other:?}")),
            }
        },
    );
    let peer_up = wait_for(
        T,
        Duration::from_millis(500),
        "wgbgp_peer_up in Prometheus",
        || match query(&a_ns, "wgbgp_peer_up")?.as_slice() {
            [one] if one.1 == 1.0 => Ok(one.0.clone()),
            other => Err(format!("wgbgp_peer_up = {other:?}")),
        },
    );
    assert_eq!(peer_up["name"], "b", "{peer_up}");
    assert_eq!(peer_up["peer"], "10.9.2.2", "{peer_up}");
    assert_eq!(peer_up["peer_as"], "65502", "{peer_up}");
    let rss = query(&a_ns, "wgbgp_process_resident_memory_bytes").unwrap();
    assert!(
        matches!(rss.as_slice(), [(_, v)] if *v > 1e6),
        "rss = {rss:?}"
    );
    let routes = query(&a_ns, "sum(wgbgp_rib_routes)").unwrap();
    assert!(
        matches!(routes.as_slice(), [(_, v)] if *v >= 1.0),
        "rib routes = {routes:?}"
    );
    prometheus.stop(Duration::from_secs(5));
}
