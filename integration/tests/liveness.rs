//! WireGuard as a liveness signal: a peer whose tunnel goes quiet loses its
//! session (and its routes leave the kernel) after `dead_after`, not after
//! the 90 s hold timer; when the tunnel recovers the session comes back.
//!
//! ```text
//!   +-----------------+  veth 10.8.0.1 -- 10.8.0.2  +-----------------+
//!   | A  wgbgpd       |=============================| B  wgbgpd       |
//!   | lo 1.1.1.1      |   wg (keepalive 1 s)        | lo 2.2.2.2      |
//!   | dead_after 3 s  |                             | 198.51.100.0/24 |
//!   +-----------------+                             +-----------------+
//!              B's wireguard-go is frozen (SIGSTOP), then thawed (SIGCONT);
//!              both ends watch their tunnel, as they would in production.
//! ```

use std::time::{Duration, Instant};

use integration::lab::wireguard_go_pid;
use integration::{Netns, Wgbgpd, WgbgpdPair, require_root, wait_for};
use serde_json::Value;

const T: Duration = Duration::from_secs(40);

#[test]
fn quiet_tunnel_tears_the_session_down_within_dead_after() {
    require_root();
    let lab = WgbgpdPair::new("l", "10.8.0");
    let (a_ns, b_ns) = (&lab.ns.a, &lab.ns.b);
    let (ka, kb, ifa) = (&lab.ka, &lab.kb, &lab.if_a);
    b_ns.add_lo_addr("198.51.100.1/32");
    let b_yaml = lab
        .b_config()
        .announce("198.51.100.0/24")
        .with_peers(|p| p.with_tunnel(|t| t.dead_after(3)))
        .render();
    let a_yaml = lab
        .a_config()
        .metrics("127.0.0.1:9179")
        .with_peers(|p| p.with_tunnel(|t| t.dead_after(3)))
        .render();
    let mut b = Wgbgpd::start(b_ns, &b_yaml);
    let mut a = Wgbgpd::start(a_ns, &a_yaml);
    a.wait_established(a_ns, "2.2.2.2", T);
    a_ns.wait_route("198.51.100.0/24", "", T);

    // show tunnels / show nexthops describe what the route stands on.
    let tunnels: Value = a.cli_json(a_ns, &["show", "tunnels"]);
    let t = &tunnels[0];
    assert_eq!(t["interface"], ifa.as_str(), "{tunnels:#}");
    assert_eq!(t["peerPublicKey"], kb.public.as_str(), "{tunnels:#}");
    assert_eq!(t["up"], true, "{tunnels:#}");
    assert!(t["rxBytes"].as_u64().unwrap() > 0, "{tunnels:#}");
    assert!(t.get("privateKey").is_none());
    assert!(
        !tunnels.to_string().contains(&ka.private),
        "a private key leaked: {tunnels}"
    );
    let nh: Value = a.cli_json(a_ns, &["show", "nexthops"]);
    assert_eq!(nh[0]["ip"], "2.2.2.2", "{nh:#}");
    assert_eq!(nh[0]["resolved"], true, "{nh:#}");
    assert_eq!(
        nh[0]["via"][0],
        format!("via 2.2.2.2 dev {ifa} onlink"),
        "{nh:#}"
    );

    // /metrics (on A's namespace loopback) carries the tunnel's facts.
    let labels = format!("interface=\"{ifa}\",name=\"p\",peer=\"2.2.2.2\"");
    wait_for(T, Duration::from_millis(250), "tunnel metrics", || {
        let text = scrape(a_ns);
        let rx = metric(
            &text,
            &format!("wgbgp_tunnel_receive_bytes_total{{{labels}}}"),
        );
        let up = metric(&text, &format!("wgbgp_tunnel_up{{{labels}}}"));
        let peer_up = metric(
            &text,
            "wgbgp_peer_up{name=\"p\",peer=\"2.2.2.2\",peer_as=\"65502\"}",
        );
        match (rx, up, peer_up) {
            (Some(rx), Some(1), Some(1)) if rx > 0 => Ok(()),
            _ => Err(text),
        }
    });

    // Freeze B's tunnel: A must notice within dead_after (+ one poll), far
    // below the 90 s hold time.
    let pid = wireguard_go_pid(b_ns);
    // SAFETY: signalling a process of our own test namespace.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let frozen = Instant::now();
    wait_for(
        Duration::from_secs(15),
        Duration::from_millis(50),
        "route withdrawn after the tunnel froze",
        || a_ns.no_route("198.51.100.0/24"),
    );
    let detection = frozen.elapsed();
    eprintln!(
        "liveness: tunnel frozen -> route withdrawn in {detection:?} (dead_after 3 s, hold time 90 s)"
    );
    assert!(detection < Duration::from_secs(8), "took {detection:?}");
    assert!(a.log_text().contains("tunnel dead"), "no liveness log line");

    // Thaw: the session and the route come back by themselves.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    a.wait_established(a_ns, "2.2.2.2", T);
    a_ns.wait_route("198.51.100.0/24", "", T);
    // The teardown is counted as a sent Cease/Administrative Reset, as a Hard
    // Reset (6/9, RFC 8538: both wgbgpds set the N bit), the session's
    // uptime restarts, and the process metrics are there.
    let peer = "name=\"p\",peer=\"2.2.2.2\",peer_as=\"65502\"";
    wait_for(
        T,
        Duration::from_millis(250),
        "notification and process metrics",
        || {
            let text = scrape(a_ns);
            let cease = metric(
                &text,
                &format!(
                    "wgbgp_notifications_total{{code=\"6\",direction=\"sent\",{peer},subcode=\"9\"}}"
                ),
            );
            let uptime = metric(&text, &format!("wgbgp_peer_uptime_seconds{{{peer}}}"));
            let rss = metric(&text, "wgbgp_process_resident_memory_bytes");
            let fds = metric(&text, "wgbgp_process_open_fds");
            match (cease, uptime, rss, fds) {
                (Some(1), Some(u), Some(rss), Some(fds)) if u < 60 && rss > 1 << 20 && fds > 3 => {
                    Ok(())
                }
                _ => Err(text),
            }
        },
    );
    b.check_alive();
}

/// GET /metrics from 127.0.0.1:9179 inside `ns`.
fn scrape(ns: &Netns) -> String {
    integration::metrics::scrape(ns, "127.0.0.1:9179")
}

/// The value of the sample whose name and labels are exactly `series`.
fn metric(text: &str, series: &str) -> Option<u64> {
    integration::metrics::value(text, series).map(|v| v as u64)
}
