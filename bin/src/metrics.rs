//! Prometheus metrics and the `/metrics` HTTP endpoint.
//!
//! One [`Metrics`] registry per daemon, every name prefixed `wgbgp_`; its
//! labelled series are [`series`]' compact ones (about 100 bytes a series
//! instead of `prometheus`'s 700: a hub has some 30 per peer). Label
//! names follow frr_exporter and GoBGP where they have the same thing
//! (`peer` is the session address, `peer_as`, plus our `name` = config key),
//! so dashboards port with a rename of the prefix. The HTTP side is a bare
//! hyper 1 server: `GET /metrics` in the text exposition format, 404 for
//! anything else.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntGauge, Registry, TextEncoder};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

mod series;
pub use series::{Counter, CounterVec, Gauge, GaugeVec};

/// Labels identifying a peer: session address, its ASN, config key.
pub const PEER_LABELS: [&str; 3] = ["peer", "peer_as", "name"];

/// All daemon metrics. Cheap to clone handles out of; share as `Arc<Metrics>`.
pub struct Metrics {
    pub registry: Registry,
    /// BGP FSM state: 1 Idle, 2 Connect, 3 Active, 4 OpenSent,
    /// 5 OpenConfirm, 6 Established (BGP4-MIB `bgpPeerState`). Not
    /// frr_exporter's `frr_bgp_peer_state` (0 down, 1 Established, 2 admin
    /// down): its equivalent is `wgbgp_peer_established`.
    pub peer_state: GaugeVec,
    /// 1 while Established.
    pub peer_up: GaugeVec,
    /// 1 while Established, else 0, with the labels of [`ESTABLISHED_LABELS`].
    pub peer_established: GaugeVec,
    /// Prefixes received from the peer, labels + afi, safi: before import
    /// policy with `soft_reconfiguration: inbound`, else the accepted ones.
    pub prefixes_received: GaugeVec,
    /// Prefixes accepted by import policy (the peer's paths in the Loc-RIB).
    pub prefixes_accepted: GaugeVec,
    /// Prefixes received but rejected by import policy or an eBGP check;
    /// only for peers with `soft_reconfiguration: inbound` (as FRR).
    pub prefixes_filtered: GaugeVec,
    /// Prefixes advertised to the peer (Adj-RIB-Out), labels + afi, safi.
    pub prefixes_advertised: GaugeVec,
    /// Messages received, labels + type (open, update, notification,
    /// keepalive, route_refresh).
    pub messages_received_total: CounterVec,
    pub messages_sent_total: CounterVec,
    /// Established sessions that went down.
    pub session_flaps_total: CounterVec,
    /// Session tasks that ended unexpectedly (a panic) and were restarted.
    pub session_task_failures_total: CounterVec,
    pub tunnel_failures_total: CounterVec,
    /// NOTIFICATIONs, labels + direction (sent, received), code, subcode
    /// (RFC 4271 §4.5 numbers, as frr_exporter has none and GoBGP counts
    /// only totals).
    pub notifications_total: CounterVec,
    /// Seconds since the session reached Established (0 when not up).
    pub peer_uptime_seconds: GaugeVec,
    /// Loc-RIB prefixes by afi.
    pub rib_routes: GaugeVec,
    /// Routes installed in the kernel by afi.
    pub fib_routes: GaugeVec,
    /// Kernel route operations by op.
    pub fib_operations_total: CounterVec,
    pub fib_errors_total: IntCounter,
    /// Seconds the kernel took for one batch of route operations (up to
    /// 256 per netlink message, several messages per batch).
    pub fib_batch_duration_seconds: Histogram,
    /// BGP next hops by state (resolved, unresolved).
    pub nexthops: GaugeVec,
    /// Our kernel nexthop objects (`kernel.nexthop_objects`).
    pub nexthop_objects: IntGauge,
    /// Fail-overs to backup paths (BGP PIC): a peer's death moved its
    /// routes with one kernel operation per nexthop object.
    pub fib_failovers_total: IntCounter,
    /// Routes those fail-overs moved without a route write.
    pub fib_failover_routes_total: IntCounter,
    /// Sessions torn down because their tunnel went quiet, by peer name and interface.
    pub tunnel_dead_total: CounterVec,
    /// Per tunnel (labels interface, peer, name): 1 if the link is up and
    /// its wireguard answers.
    pub tunnel_up: GaugeVec,
    /// Seconds since the tunnel's last handshake (absent before the first).
    pub tunnel_handshake_age_seconds: GaugeVec,
    pub tunnel_receive_bytes_total: CounterVec,
    pub tunnel_transmit_bytes_total: CounterVec,
    /// Times the tunnel's peer endpoint changed (roaming, re-resolution).
    pub tunnel_endpoint_changes_total: CounterVec,
    /// Times the supervised wireguard-go was restarted.
    pub tunnel_restarts: GaugeVec,
    /// Things deleted behind our back and put back, by kind (route,
    /// host_route, loopback, interface).
    pub kernel_repairs_total: CounterVec,
    /// Per BFD session (labels name, peer): 1 while Up.
    pub bfd_session_up: GaugeVec,
    /// BFD sessions that went from Up to Down, by name and peer.
    pub bfd_session_down_total: CounterVec,
    /// Routes refused before import policy, labels + reason (bogon,
    /// default_route).
    pub routes_refused_total: CounterVec,
    /// Estimated Adj-RIB-In memory per peer, bytes (see `max_adj_rib_in_mib`).
    pub adj_rib_in_bytes: GaugeVec,
}

/// Labels of `wgbgp_peer_established`: the session address, config name,
/// our AS, the peer's AS and its description ("" without one).
pub const ESTABLISHED_LABELS: [&str; 5] = ["peer", "name", "local_as", "remote_as", "description"];

/// BGP message types as the `type` label of the message counters, by
/// type code (RFC 4271 §4.1; 5 is ROUTE-REFRESH, RFC 2918).
pub const MESSAGE_TYPES: [&str; 6] = [
    "unknown",
    "open",
    "update",
    "notification",
    "keepalive",
    "route_refresh",
];

/// Labels of a tunnel: interface, the peer's session address, config name.
pub const TUNNEL_LABELS: [&str; 3] = ["interface", "peer", "name"];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("wgbgp".into()), None)
            .expect("static registry prefix is valid");
        let peer_af: Vec<&str> = PEER_LABELS.iter().copied().chain(["afi", "safi"]).collect();
        let peer_type: Vec<&str> = PEER_LABELS.iter().copied().chain(["type"]).collect();
        let peer_notification: Vec<&str> = PEER_LABELS
            .iter()
            .copied()
            .chain(["direction", "code", "subcode"])
            .collect();
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let m = GaugeVec::new(name, help, labels).expect("valid metric");
            registry
                .register(Box::new(m.clone()))
                .expect("unique metric");
            m
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let m = CounterVec::new(name, help, labels).expect("valid metric");
            registry
                .register(Box::new(m.clone()))
                .expect("unique metric");
            m
        };
        let fib_errors_total =
            IntCounter::new("fib_errors_total", "Kernel route operations that failed")
                .expect("valid metric");
        registry
            .register(Box::new(fib_errors_total.clone()))
            .expect("unique metric");
        let int_counter = |name: &str, help: &str| {
            let m = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(m.clone()))
                .expect("unique metric");
            m
        };
        let nexthop_objects = IntGauge::new(
            "nexthop_objects",
            "Kernel nexthop objects our routes use (kernel.nexthop_objects)",
        )
        .expect("valid metric");
        registry
            .register(Box::new(nexthop_objects.clone()))
            .expect("unique metric");
        let fib_batch_duration_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "fib_batch_duration_seconds",
                "Time the kernel took to apply one batch of route operations",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0,
            ]),
        )
        .expect("valid metric");
        registry
            .register(Box::new(fib_batch_duration_seconds.clone()))
            .expect("unique metric");
        // wgbgp_process_*: RSS, CPU seconds, open and max fds, threads, start time.
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique metric");
        // wgbgp_tokio_tasks: alive tokio tasks, read at scrape time.
        registry
            .register(Box::new(TaskCollector::new()))
            .expect("unique metric");
        let peer_reason: Vec<&str> = PEER_LABELS.iter().copied().chain(["reason"]).collect();
        Metrics {
            peer_state: gauge(
                "peer_state",
                "BGP FSM state as BGP4-MIB bgpPeerState (1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established)",
                &PEER_LABELS,
            ),
            peer_up: gauge(
                "peer_up",
                "1 if the BGP session is Established",
                &PEER_LABELS,
            ),
            peer_established: gauge(
                "peer_established",
                "1 if the BGP session is Established, 0 otherwise",
                &ESTABLISHED_LABELS,
            ),
            prefixes_received: gauge(
                "prefixes_received",
                "Prefixes received from the peer (before import policy with soft_reconfiguration)",
                &peer_af,
            ),
            prefixes_accepted: gauge(
                "prefixes_accepted",
                "Prefixes from the peer accepted by import policy",
                &peer_af,
            ),
            prefixes_filtered: gauge(
                "prefixes_filtered",
                "Prefixes from the peer rejected by import policy (soft_reconfiguration peers only)",
                &peer_af,
            ),
            prefixes_advertised: gauge(
                "prefixes_advertised",
                "Prefixes advertised to the peer",
                &peer_af,
            ),
            messages_received_total: counter(
                "messages_received_total",
                "BGP messages received, by type",
                &peer_type,
            ),
            messages_sent_total: counter(
                "messages_sent_total",
                "BGP messages sent, by type",
                &peer_type,
            ),
            session_flaps_total: counter(
                "session_flaps_total",
                "Times an Established session went down",
                &PEER_LABELS,
            ),
            session_task_failures_total: counter(
                "session_task_failures_total",
                "Times a session task failed (a panic) and was started again",
                &PEER_LABELS,
            ),
            tunnel_failures_total: counter(
                "tunnel_failures_total",
                "Attempts to bring a peer's tunnel up that failed (retried with a back-off)",
                &PEER_LABELS,
            ),
            notifications_total: counter(
                "notifications_total",
                "BGP NOTIFICATIONs by direction, error code and subcode",
                &peer_notification,
            ),
            peer_uptime_seconds: gauge(
                "peer_uptime_seconds",
                "Seconds since the session reached Established, 0 when it is not up",
                &PEER_LABELS,
            ),
            rib_routes: gauge("rib_routes", "Prefixes in the Loc-RIB", &["afi"]),
            fib_routes: gauge("fib_routes", "Routes installed in the kernel", &["afi"]),
            fib_operations_total: counter(
                "fib_operations_total",
                "Kernel route operations",
                &["op"],
            ),
            fib_errors_total,
            fib_batch_duration_seconds,
            nexthops: gauge("nexthops", "BGP next hops by resolution state", &["state"]),
            nexthop_objects,
            fib_failovers_total: int_counter(
                "fib_failovers_total",
                "Dead peers whose routes moved to their backups by nexthop object (BGP PIC)",
            ),
            fib_failover_routes_total: int_counter(
                "fib_failover_routes_total",
                "Routes moved to their backup paths by a fail-over, without a route write",
            ),
            tunnel_up: gauge(
                "tunnel_up",
                "1 if the tunnel's link is up and its WireGuard answers",
                &TUNNEL_LABELS,
            ),
            tunnel_handshake_age_seconds: gauge(
                "tunnel_handshake_age_seconds",
                "Seconds since the tunnel's latest WireGuard handshake",
                &TUNNEL_LABELS,
            ),
            tunnel_receive_bytes_total: counter(
                "tunnel_receive_bytes_total",
                "Bytes received from the WireGuard peer",
                &TUNNEL_LABELS,
            ),
            tunnel_transmit_bytes_total: counter(
                "tunnel_transmit_bytes_total",
                "Bytes sent to the WireGuard peer",
                &TUNNEL_LABELS,
            ),
            tunnel_endpoint_changes_total: counter(
                "tunnel_endpoint_changes_total",
                "Times the tunnel's WireGuard peer endpoint changed",
                &TUNNEL_LABELS,
            ),
            tunnel_restarts: gauge(
                "tunnel_restarts",
                "Restarts of the supervised wireguard-go of the tunnel",
                &TUNNEL_LABELS,
            ),
            tunnel_dead_total: counter(
                "tunnel_dead_total",
                "Sessions torn down because nothing arrived on their WireGuard tunnel",
                &["name", "interface"],
            ),
            bfd_session_up: gauge(
                "bfd_session_up",
                "1 while the peer's BFD session is Up",
                &["name", "peer"],
            ),
            bfd_session_down_total: counter(
                "bfd_session_down_total",
                "BFD sessions that went from Up to Down (each reset the BGP session)",
                &["name", "peer"],
            ),
            kernel_repairs_total: counter(
                "kernel_repairs_total",
                "Routes, host routes, loopback addresses and interfaces deleted behind our back and restored",
                &["kind"],
            ),
            routes_refused_total: counter(
                "routes_refused_total",
                "Routes refused before import policy (bogon, default_route) or dropped for an unusable next hop (next_hop)",
                &peer_reason,
            ),
            adj_rib_in_bytes: gauge(
                "adj_rib_in_bytes",
                "Estimated memory held by the routes received from the peer",
                &PEER_LABELS,
            ),
            registry,
        }
    }

    /// Creates a peer's counters at 0 (and its gauges), so that `rate()`
    /// and `increase()` see the first flap, NOTIFICATION or UPDATE: a
    /// counter born at 1 has no earlier sample to grow from. Messages by
    /// every type; NOTIFICATIONs by direction and every RFC 4271 error
    /// code (1 to 6) with subcode 0, the rest as they come. Sets
    /// `wgbgp_peer_established`.
    pub fn init_peer(&self, labels: [&str; 3], local_as: u32, description: &str, up: bool) {
        let [peer, peer_as, name] = labels;
        self.session_flaps_total.with_label_values(&labels);
        self.session_task_failures_total.with_label_values(&labels);
        self.peer_up.with_label_values(&labels).set(up as i64);
        for ty in &MESSAGE_TYPES[1..] {
            let l = [peer, peer_as, name, ty];
            self.messages_sent_total.with_label_values(&l);
            self.messages_received_total.with_label_values(&l);
        }
        for direction in ["sent", "received"] {
            for code in ["1", "2", "3", "4", "5", "6"] {
                self.notifications_total
                    .with_label_values(&[peer, peer_as, name, direction, code, "0"]);
            }
        }
        let local_as = local_as.to_string();
        self.peer_established
            .with_label_values(&[peer, name, &local_as, peer_as, description])
            .set(up as i64);
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        // Encoding only fails on inconsistent metric families, which
        // registration rules out.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// `wgbgp_tokio_tasks`: tasks alive in the daemon's tokio runtime, read
/// when scraped (the scrape runs on that runtime). A count that grows
/// while the peers and tunnels stay the same is a task leak.
struct TaskCollector {
    gauge: prometheus::IntGauge,
}

impl TaskCollector {
    fn new() -> TaskCollector {
        TaskCollector {
            gauge: prometheus::IntGauge::new("tokio_tasks", "Tasks alive in the tokio runtime")
                .expect("valid metric"),
        }
    }
}

impl prometheus::core::Collector for TaskCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return Vec::new();
        };
        self.gauge.set(rt.metrics().num_alive_tasks() as i64);
        self.gauge.collect()
    }
}

/// A running `/metrics` server.
pub struct MetricsServer {
    /// The bound address (useful with port 0).
    pub local_addr: SocketAddr,
    pub task: JoinHandle<()>,
}

/// Binds `addr` and serves `GET /metrics` until the task is aborted.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> io::Result<MetricsServer> {
    let listener = TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| respond(req, metrics.clone()));
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %e, "metrics connection ended");
                }
            });
        }
    });
    Ok(MetricsServer { local_addr, task })
}

async fn respond(
    req: Request<Incoming>,
    metrics: Arc<Metrics>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status, ctype: &str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = ctype.parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        r
    };
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/metrics") => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.encode(),
        ),
        (_, "/metrics") => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "use GET\n".into(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found; try /metrics\n".into(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[test]
    fn a_peers_counters_are_at_zero_from_the_first_scrape() {
        let m = Metrics::new();
        m.init_peer(["2.2.2.2", "65501", "s2"], 65500, "S2", false);
        let text = m.encode();
        for line in [
            "wgbgp_session_flaps_total{name=\"s2\",peer=\"2.2.2.2\",peer_as=\"65501\"} 0",
            "wgbgp_messages_received_total{name=\"s2\",peer=\"2.2.2.2\",peer_as=\"65501\",type=\"update\"} 0",
            "wgbgp_messages_sent_total{name=\"s2\",peer=\"2.2.2.2\",peer_as=\"65501\",type=\"update\"} 0",
            "wgbgp_notifications_total{code=\"6\",direction=\"received\",name=\"s2\",peer=\"2.2.2.2\",peer_as=\"65501\",subcode=\"0\"} 0",
            "wgbgp_notifications_total{code=\"1\",direction=\"sent\",name=\"s2\",peer=\"2.2.2.2\",peer_as=\"65501\",subcode=\"0\"} 0",
            "wgbgp_peer_established{description=\"S2\",local_as=\"65500\",name=\"s2\",peer=\"2.2.2.2\",remote_as=\"65501\"} 0",
            "wgbgp_peer_up{name=\"s2\",peer=\"2.2.2.2\",peer_as=\"65501\"} 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        // Again (each refresh does it): the counts stay, the gauges follow.
        m.session_flaps_total
            .with_label_values(&["2.2.2.2", "65501", "s2"])
            .inc();
        m.init_peer(["2.2.2.2", "65501", "s2"], 65500, "S2", true);
        let text = m.encode();
        assert!(text.contains(
            "wgbgp_session_flaps_total{name=\"s2\",peer=\"2.2.2.2\",peer_as=\"65501\"} 1"
        ));
        assert!(text.contains(
            "wgbgp_peer_established{description=\"S2\",local_as=\"65500\",name=\"s2\",peer=\"2.2.2.2\",remote_as=\"65501\"} 1"
        ));
    }

    #[tokio::test]
    async fn serves_metrics_with_labels_and_404_elsewhere() {
        let m = Arc::new(Metrics::new());
        let labels = ["2.2.2.2", "65501", "s2"];
        m.peer_state.with_label_values(&labels).set(6);
        m.peer_up.with_label_values(&labels).set(1);
        m.prefixes_received
            .with_label_values(&["2.2.2.2", "65501", "s2", "ipv4", "unicast"])
            .set(1);
        m.messages_received_total
            .with_label_values(&["2.2.2.2", "65501", "s2", "update"])
            .inc_by(3);
        m.fib_errors_total.inc();
        m.fib_batch_duration_seconds.observe(0.003);
        m.notifications_total
            .with_label_values(&["2.2.2.2", "65501", "s2", "received", "6", "2"])
            .inc();
        m.fib_operations_total.with_label_values(&["replace"]).inc();

        let server = serve("127.0.0.1:0".parse().unwrap(), m.clone())
            .await
            .unwrap();
        assert_ne!(server.local_addr.port(), 0);
        let resp = get(server.local_addr, "/metrics").await;
        assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
        assert!(
            resp.contains("content-type: text/plain; version=0.0.4"),
            "{resp}"
        );
        for line in [
            "wgbgp_peer_state{name=\"s2\",peer=\"2.2.2.2\",peer_as=\"65501\"} 6",
            "wgbgp_peer_up{name=\"s2\",peer=\"2.2.2.2\",peer_as=\"65501\"} 1",
            "wgbgp_prefixes_received{afi=\"ipv4\",name=\"s2\",peer=\"2.2.2.2\",peer_as=\"65501\",safi=\"unicast\"} 1",
            "wgbgp_messages_received_total{name=\"s2\",peer=\"2.2.2.2\",peer_as=\"65501\",type=\"update\"} 3",
            "wgbgp_fib_errors_total 1",
            "wgbgp_fib_batch_duration_seconds_bucket{le=\"0.0025\"} 0",
            "wgbgp_fib_batch_duration_seconds_bucket{le=\"0.005\"} 1",
            "wgbgp_fib_batch_duration_seconds_count 1",
            "wgbgp_fib_operations_total{op=\"replace\"} 1",
            "# TYPE wgbgp_peer_state gauge",
            "# TYPE wgbgp_process_resident_memory_bytes gauge",
            "# TYPE wgbgp_process_cpu_seconds_total counter",
            "wgbgp_notifications_total{code=\"6\",direction=\"received\",name=\"s2\",peer=\"2.2.2.2\",peer_as=\"65501\",subcode=\"2\"} 1",
            "# TYPE wgbgp_messages_received_total counter",
        ] {
            assert!(resp.contains(line), "missing {line} in {resp}");
        }

        let resp = get(server.local_addr, "/").await;
        assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
        let resp = get(server.local_addr, "/metricsx").await;
        assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
        server.task.abort();
    }
}
