//! Tunnels across a restart, a key rotation and a roaming peer.
//!
//! ```text
//!   +-----------------+  veth 10.9.7.1 -- 10.9.7.2  +-----------------+
//!   | A  wgbgpd       |=============================| B  wgbgpd       |
//!   | lo 1.1.1.1      |   wg (wireguard-go)         | lo 2.2.2.2      |
//!   |                 |                             | 198.51.100.0/24 |
//!   +-----------------+                             +-----------------+
//! ```
//!
//! - `wireguard.keep_on_exit: true`: SIGTERM leaves A's interface, its
//!   wireguard-go and its peer as they were; the next start adopts them
//!   (same ifindex, same process) and the session comes back over them.
//! - Key rotation: a new key in A's `private_key_file` and `wgbgp reload`
//!   change the tunnel's public key in place (same ifindex); once B is
//!   given the new public key (its own reload) the session comes back.
//! - A's address on the link changes: B sees A's endpoint move and counts
//!   it in `wgbgp_tunnel_endpoint_changes_total`.

use std::time::Duration;

use integration::{Netns, TempDir, WgKey, Wgbgpd, ifname, require_root, veth, wait_for};
use serde_json::Value;

const T: Duration = Duration::from_secs(40);
const POLL: Duration = Duration::from_millis(200);

#[allow(clippy::too_many_arguments)]
fn config(
    id: &str,
    asn: u32,
    peer_asn: u32,
    peer: &str,
    key: &str,
    peer_pub: &str,
    iface: &str,
    extra: &str,
    keep_on_exit: bool,
) -> String {
    format!(
        r#"router_id: {id}
asn: {asn}
loopback: [{id}/32]
wireguard:
  private_key_file: "{key}"
  backend: userspace
  keep_on_exit: {keep_on_exit}
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

fn route(ns: &Netns, prefix: &str) -> Option<String> {
    let out = ns.stdout(&["ip", "route", "show", "exact", prefix]);
    (!out.trim().is_empty()).then(|| out.trim().to_string())
}

/// The interface's index in `ns`, `None` if it is gone.
fn ifindex(ns: &Netns, iface: &str) -> Option<u32> {
    let out = ns.stdout(&["ip", "-o", "link", "show", iface]);
    out.split(':').next()?.trim().parse().ok()
}

/// Live `wireguard-go IFACE` processes (zombies have no cmdline).
fn wireguard_go_pids(iface: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.len() >= 2 && args[0].ends_with(b"wireguard-go") && args[1] == iface.as_bytes() {
            pids.push(pid);
        }
    }
    pids
}

/// Stops what keep_on_exit deliberately leaves behind, on failure too.
struct Leftovers(Vec<String>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for iface in &self.0 {
            for pid in wireguard_go_pids(iface) {
                // SAFETY: kill(2) on a pid serving one of this test's interfaces.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
            let _ = std::fs::remove_file(format!("/var/run/wireguard/{iface}.sock"));
            let _ = std::fs::remove_file(format!("/var/run/wireguard/{iface}.log"));
        }
    }
}

fn a_yaml(keys: &TempDir, ka: &WgKey, b_pub: &str, ifa: &str, keep_on_exit: bool) -> String {
    config(
        "1.1.1.1",
        65501,
        65502,
        "2.2.2.2",
        &key_file(keys, "a.key", ka),
        b_pub,
        ifa,
        "      endpoint: 10.9.7.2:51820\n      dead_after: 3\n",
        keep_on_exit,
    )
}

fn b_yaml(keys: &TempDir, kb: &WgKey, a_pub: &str, ifb: &str) -> String {
    config(
        "2.2.2.2",
        65502,
        65501,
        "1.1.1.1",
        &key_file(keys, "b.key", kb),
        a_pub,
        ifb,
        "      listen_port: 51820\n      dead_after: 3\n",
        false,
    )
    .replace(
        "loopback: [2.2.2.2/32]",
        "loopback: [2.2.2.2/32]\nannounce: [198.51.100.0/24]\nmetrics: { listen: \"127.0.0.1:9179\" }",
    )
}

/// A (the daemon under test) and B, Established over the tunnel, B's
/// prefix in A's kernel. Field order is drop order: daemons, then what
/// keep_on_exit leaves running, then the namespaces.
struct Lab {
    a: Wgbgpd,
    b: Wgbgpd,
    _leftovers: Leftovers,
    a_ns: Netns,
    b_ns: Netns,
    ifa: String,
    ifb: String,
    keys: TempDir,
    ka: WgKey,
    kb: WgKey,
}

impl Lab {
    fn new(keep_on_exit: bool) -> Lab {
        let (a_ns, b_ns) = (Netns::new("ka"), Netns::new("kb"));
        veth(
            &a_ns,
            "eth1",
            Some("10.9.7.1/24"),
            &b_ns,
            "eth1",
            Some("10.9.7.2/24"),
        );
        let (ifa, ifb) = (ifname("kepa"), ifname("kepb"));
        let leftovers = Leftovers(vec![ifa.clone(), ifb.clone()]);
        let keys = TempDir::new("keys");
        let (ka, kb) = (WgKey::generate(), WgKey::generate());
        b_ns.add_lo_addr("198.51.100.1/32");
        let b = Wgbgpd::start(&b_ns, &b_yaml(&keys, &kb, &ka.public, &ifb));
        let a = Wgbgpd::start(&a_ns, &a_yaml(&keys, &ka, &kb.public, &ifa, keep_on_exit));
        let mut lab = Lab {
            a,
            b,
            _leftovers: leftovers,
            a_ns,
            b_ns,
            ifa,
            ifb,
            keys,
            ka,
            kb,
        };
        lab.wait_up();
        lab
    }

    fn wait_up(&mut self) {
        self.a.wait_established(&self.a_ns, "2.2.2.2", T);
        wait_for(T, POLL, "B's prefix in A's kernel", || {
            route(&self.a_ns, "198.51.100.0/24").ok_or_else(|| self.a_ns.routes(""))
        });
    }

    fn a_tunnel(&self) -> Value {
        let t: Value = self.a.cli_json(&self.a_ns, &["show", "tunnels"]);
        t[0].clone()
    }
}

#[test]
fn sigterm_with_keep_on_exit_leaves_the_tunnel_up_and_restart_adopts_it() {
    require_root();
    let mut lab = Lab::new(true);
    let index = ifindex(&lab.a_ns, &lab.ifa).expect("A's tunnel");
    let pids = wireguard_go_pids(&lab.ifa);
    assert_eq!(pids.len(), 1, "one wireguard-go for {}", lab.ifa);

    let status = lab.a.stop();
    assert!(status.success(), "wgbgpd exited with {status}");
    // The interface, its wireguard-go and its peer are as they were.
    assert_eq!(
        ifindex(&lab.a_ns, &lab.ifa),
        Some(index),
        "interface gone or recreated"
    );
    assert_eq!(wireguard_go_pids(&lab.ifa), pids, "wireguard-go stopped");
    let wg = lab.a_ns.stdout(&["wg", "show", &lab.ifa, "peers"]);
    assert_eq!(
        wg.trim(),
        lab.kb.public,
        "the peer is gone from {}",
        lab.ifa
    );
    let host = lab.a_ns.stdout(&["ip", "route", "show", "dev", &lab.ifa]);
    assert!(
        host.contains("2.2.2.2"),
        "host route to the peer gone: {host}"
    );
    // Our BGP routes do go (no graceful restart here).
    assert!(route(&lab.a_ns, "198.51.100.0/24").is_none());

    // The next start adopts the running tunnel instead of recreating it.
    lab.a.restart(&lab.a_ns);
    lab.wait_up();
    assert_eq!(
        ifindex(&lab.a_ns, &lab.ifa),
        Some(index),
        "tunnel recreated"
    );
    assert_eq!(wireguard_go_pids(&lab.ifa), pids, "wireguard-go replaced");
    let t = lab.a_tunnel();
    assert_eq!(t["peerPublicKey"], lab.kb.public.as_str(), "{t:#}");
    assert!(
        lab.a.log_text().contains("adopting running wireguard-go"),
        "{}",
        lab.a.log_text()
    );
    lab.a.check_alive();
}

#[test]
fn reload_rotates_the_private_key_in_place_and_the_session_returns() {
    require_root();
    let mut lab = Lab::new(false);
    let index = ifindex(&lab.a_ns, &lab.ifa).expect("A's tunnel");
    assert_eq!(lab.a_tunnel()["publicKey"], lab.ka.public.as_str());

    // A new key in the same file, then reload.
    let new = WgKey::generate();
    key_file(&lab.keys, "a.key", &new);
    let out = lab.a.cli(&lab.a_ns, &["reload"]);
    assert!(!out.contains("reset session"), "{out}");
    let t = lab.a_tunnel();
    assert_eq!(t["publicKey"], new.public.as_str(), "{t:#}");
    assert_eq!(
        ifindex(&lab.a_ns, &lab.ifa),
        Some(index),
        "tunnel recreated"
    );
    assert_eq!(wireguard_go_pids(&lab.ifa).len(), 1);

    // B still expects the old key: the tunnel goes quiet and dead_after
    // takes the session down; given the new key, it comes back.
    wait_for(
        T,
        POLL,
        "the session down while B has the old key",
        || match lab.a.peer_state(&lab.a_ns, "2.2.2.2").as_deref() {
            Some("Established") => Err("still Established".into()),
            _ => Ok(()),
        },
    );
    let socket_line = format!("control_socket: {}\n", lab.b.socket().display());
    std::fs::write(
        lab.b.config_path(),
        b_yaml(&lab.keys, &lab.kb, &new.public, &lab.ifb) + &socket_line,
    )
    .unwrap();
    let out = lab.b.cli(&lab.b_ns, &["reload"]);
    assert!(!out.contains("reset session"), "{out}");
    lab.wait_up();
    assert_eq!(ifindex(&lab.a_ns, &lab.ifa), Some(index));
    assert_eq!(lab.a_tunnel()["publicKey"], new.public.as_str());
    lab.a.check_alive();
    lab.b.check_alive();
}

#[test]
fn a_roaming_peer_is_counted_as_an_endpoint_change() {
    require_root();
    let lab = Lab::new(false);
    let series = format!(
        r#"wgbgp_tunnel_endpoint_changes_total{{interface="{}",name="p",peer="1.1.1.1"}}"#,
        lab.ifb
    );
    let changes = || {
        let text = integration::metrics::scrape(&lab.b_ns, "127.0.0.1:9179");
        integration::metrics::value(&text, &series).unwrap_or(0.0)
    };
    let b_sees = || {
        let t: Value = lab.b.cli_json(&lab.b_ns, &["show", "tunnels"]);
        t[0]["endpoint"].as_str().unwrap_or_default().to_string()
    };
    wait_for(T, POLL, "B to see A at 10.9.7.1", || {
        let ep = b_sees();
        if ep.starts_with("10.9.7.1:") {
            Ok(())
        } else {
            Err(ep)
        }
    });
    // Past a metrics refresh that saw the first endpoint.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(changes(), 0.0);

    // A moves to another address on the same link (the old one goes, so
    // wireguard-go's sticky source address has to change too).
    lab.a_ns
        .exec(&["sysctl", "-qw", "net.ipv4.conf.eth1.promote_secondaries=1"]);
    lab.a_ns
        .exec(&["ip", "addr", "add", "10.9.7.11/24", "dev", "eth1"]);
    lab.a_ns
        .exec(&["ip", "addr", "del", "10.9.7.1/24", "dev", "eth1"]);
    wait_for(T, POLL, "B to see A at 10.9.7.11", || {
        let ep = b_sees();
        if ep.starts_with("10.9.7.11:") {
            Ok(())
        } else {
            Err(ep)
        }
    });
    wait_for(T, POLL, "the endpoint change counted", || match changes() {
        n if n >= 1.0 => Ok(()),
        n => Err(format!("{series} = {n}")),
    });
    // The tunnel may go quiet for longer than dead_after (3 s) while A's
    // wireguard-go gives up its old source address: the session may be
    // reset, and must come back over the moved endpoint.
    let mut a = lab.a;
    a.wait_established(&lab.a_ns, "2.2.2.2", T);
    assert!(lab.b.log_text().contains("tunnel endpoint changed"));
    a.check_alive();
}
