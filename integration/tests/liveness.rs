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

use integration::{Netns, TempDir, WgKey, Wgbgpd, ifname, require_root, veth, wait_for};
use serde_json::Value;

const T: Duration = Duration::from_secs(40);

fn config(
    id: &str,
    asn: u32,
    peer_asn: u32,
    peer: &str,
    key: &str,
    peer_pub: &str,
    iface: &str,
    extra: &str,
) -> String {
    format!(
        r#"router_id: {id}
asn: {asn}
loopback: [{id}/32]
wireguard:
  private_key_file: "{key}"
  backend: userspace
peers:
  p:
    asn: {peer_asn}
    address: {peer}
    wireguard:
      public_key: {peer_pub}
      interface: {iface}
      persistent_keepalive: 1
{extra}    import: [all]
    export: [all]
policies:
  all:
    - action: accept
"#
    )
}

fn key_file(dir: &TempDir, name: &str, key: &WgKey) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.write(name, &format!("{}\n", key.private));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

fn wireguard_go_pid(ns: &Netns) -> i32 {
    ns.pids()
        .into_iter()
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "wireguard-go")
        })
        .unwrap_or_else(|| panic!("no wireguard-go in {}", ns.name())) as i32
}

fn route(ns: &Netns, prefix: &str) -> Option<String> {
    let out = ns.stdout(&["ip", "route", "show", "exact", prefix]);
    (!out.trim().is_empty()).then(|| out.trim().to_string())
}

#[test]
fn quiet_tunnel_tears_the_session_down_within_dead_after() {
    require_root();
    let (a_ns, b_ns) = (Netns::new("la"), Netns::new("lb"));
    veth(
        &a_ns,
        "eth1",
        Some("10.8.0.1/24"),
        &b_ns,
        "eth1",
        Some("10.8.0.2/24"),
    );
    let keys = TempDir::new("keys");
    let (ka, kb) = (WgKey::generate(), WgKey::generate());
    let (ifa, ifb) = (ifname("liva"), ifname("livb"));
    b_ns.add_lo_addr("198.51.100.1/32");
    let b_yaml = config(
        "2.2.2.2",
        65502,
        65501,
        "1.1.1.1",
        &key_file(&keys, "b.key", &kb),
        &ka.public,
        &ifb,
        "      listen_port: 51820\n      dead_after: 3\n",
    )
    .replace(
        "loopback: [2.2.2.2/32]",
        "loopback: [2.2.2.2/32]\nannounce: [198.51.100.0/24]",
    );
    let a_yaml = config(
        "1.1.1.1",
        65501,
        65502,
        "2.2.2.2",
        &key_file(&keys, "a.key", &ka),
        &kb.public,
        &ifa,
        "      endpoint: 10.8.0.2:51820\n      dead_after: 3\n",
    )
    .replace(
        "asn: 65501\n",
        "asn: 65501\nmetrics: { listen: \"127.0.0.1:9179\" }\n",
    );
    let mut b = Wgbgpd::start(&b_ns, &b_yaml);
    let mut a = Wgbgpd::start(&a_ns, &a_yaml);
    a.wait_established(&a_ns, "2.2.2.2", T);
    wait_for(
        T,
        Duration::from_millis(100),
        "B's prefix in A's kernel",
        || route(&a_ns, "198.51.100.0/24").ok_or_else(|| a_ns.routes("")),
    );

    // show tunnels / show nexthops describe what the route stands on.
    let tunnels: Value = a.cli_json(&a_ns, &["show", "tunnels"]);
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
    let nh: Value = a.cli_json(&a_ns, &["show", "nexthops"]);
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
        let text = scrape(&a_ns);
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
    let pid = wireguard_go_pid(&b_ns);
    // SAFETY: signalling a process of our own test namespace.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let frozen = Instant::now();
    wait_for(
        Duration::from_secs(15),
        Duration::from_millis(50),
        "route withdrawn after the tunnel froze",
        || match route(&a_ns, "198.51.100.0/24") {
            Some(r) => Err(format!("still there: {r}")),
            None => Ok(()),
        },
    );
    let detection = frozen.elapsed();
    eprintln!(
        "liveness: tunnel frozen -> route withdrawn in {detection:?} (dead_after 3 s, hold time 90 s)"
    );
    assert!(detection < Duration::from_secs(8), "took {detection:?}");
    assert!(a.log_text().contains("tunnel dead"), "no liveness log line");

    // Thaw: the session and the route come back by themselves.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    a.wait_established(&a_ns, "2.2.2.2", T);
    wait_for(
        T,
        Duration::from_millis(100),
        "route back after thaw",
        || route(&a_ns, "198.51.100.0/24").ok_or_else(|| a_ns.routes("")),
    );
    // The teardown is counted as a sent Cease/Administrative Reset, as a Hard
    // Reset (6/9, RFC 8538: both wgbgpds set the N bit), the session's
    // uptime restarts, and the process metrics are there.
    let peer = "name=\"p\",peer=\"2.2.2.2\",peer_as=\"65502\"";
    wait_for(
        T,
        Duration::from_millis(250),
        "notification and process metrics",
        || {
            let text = scrape(&a_ns);
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
