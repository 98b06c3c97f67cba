//! The `wgbgp` binary end to end: against a stand-in daemon on a temporary
//! control socket (no namespaces, no root), plus the offline commands.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use futures::FutureExt;
use wgbgp::api::{
    Afi, BgpSummary, Nexthop, Origin, PeerState, PeerSummary, Request, Response, RoutePath,
    RouteTable, SessionState, Summary, format_uptime,
};
use wgbgp::control;

const S1: &str = include_str!("data/s1.yaml");

fn wgbgp(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wgbgp"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wgbgp");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// A temporary directory holding `s1.yaml`: S1 with the path `from` made
/// `DIR/name`. Returns the directory, the config's path and `DIR/name`.
fn s1_pointing(from: &str, name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, to) = (dir.path().join("s1.yaml"), dir.path().join(name));
    std::fs::write(&cfg, S1.replace(from, to.to_str().unwrap())).unwrap();
    (dir, cfg, to)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn summary() -> BgpSummary {
    let peer = PeerSummary {
        hostname: None,
        remote_as: 65501,
        local_as: 65500,
        version: 4,
        msg_rcvd: 7,
        msg_sent: 8,
        table_version: 0,
        outq: 0,
        inq: 0,
        peer_uptime: format_uptime(Some(std::time::Duration::from_secs(5))),
        peer_uptime_msec: 5000,
        peer_uptime_established_epoch: Some(1_700_000_000),
        pfx_rcd: 1,
        pfx_snt: 1,
        state: SessionState::Established,
        peer_state: PeerState::Ok,
        connections_established: 1,
        connections_dropped: 0,
        desc: Some("S2".into()),
        id_type: Afi::Ipv4,
        name: "s2".into(),
        interface: Some("wg-s2".into()),
    };
    let peers = BTreeMap::from([("2.2.2.2".to_string(), peer)]);
    BgpSummary {
        ipv4_unicast: Some(Summary::new("1.1.1.1", 65500, 2, peers.clone())),
        ipv6_unicast: Some(Summary::new("1.1.1.1", 65500, 0, peers)),
    }
}

fn table(afi: Afi) -> RouteTable {
    let (net, nh) = match afi {
        Afi::Ipv4 => ("198.19.0.1/32", "2.2.2.2"),
        Afi::Ipv6 => ("fd00:19::/64", "fd00::2"),
    };
    let n: ipnet::IpNet = net.parse().unwrap();
    let path = RoutePath {
        valid: true,
        bestpath: true,
        multipath: false,
        selection_reason: Some("First path received".into()),
        stale: false,
        path_from: "external".into(),
        prefix: n.addr().to_string(),
        prefix_len: n.prefix_len(),
        network: net.into(),
        metric: None,
        loc_prf: None,
        weight: 0,
        peer_id: "2.2.2.2".into(),
        path: "65501".into(),
        origin: Origin::Igp,
        nexthops: vec![Nexthop::global(nh.parse().unwrap())],
        installed: true,
        via: Some(format!("{nh} dev wg-s2 onlink")),
        attrs: Default::default(),
    };
    RouteTable::new(
        "1.1.1.1",
        65500,
        BTreeMap::from([(net.to_string(), vec![path])]),
    )
}

async fn fake_daemon(path: &Path) -> tokio::task::JoinHandle<()> {
    let handler: control::Handler = Arc::new(|req| {
        async move {
            match req {
                Request::Summary => Response::Summary(summary()),
                Request::Routes { afi, .. } => Response::Routes(table(afi)),
                other => Response::Error(format!("the test daemon does not answer {other:?}")),
            }
        }
        .boxed()
    });
    control::serve(path, control::Access::default(), handler)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn show_commands_against_a_running_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("wgbgp.sock");
    let server = fake_daemon(&sock).await;
    let s = sock.to_str().unwrap().to_string();
    let run = move |args: &[&str]| {
        let mut all = vec!["--socket", s.as_str()];
        all.extend_from_slice(args);
        let all: Vec<String> = all.iter().map(|a| a.to_string()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = all.iter().map(String::as_str).collect();
                wgbgp(&refs, None)
            })
            .await
            .unwrap()
        }
    };

    let out = run(&["show", "bgp", "summary"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(
        t.contains("BGP router identifier 1.1.1.1, local AS number 65500 vrf-id 0"),
        "{t}"
    );
    assert!(t.contains("IPv6 Unicast Summary"), "{t}");
    assert!(
        t.contains("2.2.2.2         4      65501         7         8        0    0    0 00:00:05            1        1 S2"),
        "{t}"
    );

    let out = run(&["show", "bgp", "summary", "--json"]).await;
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ipv4Unicast"]["peers"]["2.2.2.2"]["state"], "Established");
    assert_eq!(v["ipv4Unicast"]["peers"]["2.2.2.2"]["pfxRcd"], 1);
    assert_eq!(v["ipv4Unicast"]["peers"]["2.2.2.2"]["peerUptimeMsec"], 5000);

    let out = run(&["--json", "show", "bgp", "ipv4", "unicast"]).await;
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &v["routes"]["198.19.0.1/32"][0];
    assert_eq!(
        (r["valid"].clone(), r["bestpath"].clone()),
        (true.into(), true.into())
    );
    assert_eq!(r["nexthops"][0]["ip"], "2.2.2.2");
    assert_eq!(r["path"], "65501");

    let out = run(&["show", "bgp", "ipv6", "unicast"]).await;
    let t = text(&out.stdout);
    assert!(t.contains("*> fd00:19::/64     fd00::2"), "{t}");
    assert!(t.contains("Displayed  1 routes and 1 total paths"), "{t}");

    // A prefix filter that matches nothing.
    let out = run(&["show", "bgp", "ipv4", "unicast", "10.0.0.0/8", "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["routes"], serde_json::json!({}));
    assert_eq!(v["totalRoutes"], 0);
    server.abort();
}

#[test]
fn show_without_daemon_fails_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    let out = wgbgp(
        &["--socket", sock.to_str().unwrap(), "show", "bgp", "summary"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(
        e.contains(&format!(
            "cannot connect to {}: is wgbgpd running?",
            sock.display()
        )),
        "{e}"
    );
}

#[test]
fn socket_comes_from_the_config() {
    let (_dir, cfg, _) = s1_pointing("/run/wgbgp/wgbgp.sock", "from-config.sock");
    let out = wgbgp(
        &["--config", cfg.to_str().unwrap(), "show", "bgp", "summary"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("from-config.sock: is wgbgpd running?"));
}

#[test]
fn genkey_and_pubkey_agree_with_wg() {
    let out = wgbgp(&["genkey"], None);
    assert!(out.status.success());
    let private = text(&out.stdout);
    assert_eq!(private.trim().len(), 44, "{private}");
    let out = wgbgp(&["pubkey"], Some(&private));
    assert!(out.status.success());
    let public = text(&out.stdout);
    // Cross-check against wireguard-tools when it is installed.
    if let Ok(mut wg) = Command::new("wg")
        .arg("pubkey")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        wg.stdin
            .take()
            .unwrap()
            .write_all(private.as_bytes())
            .unwrap();
        let want = wg.wait_with_output().unwrap();
        assert_eq!(public, text(&want.stdout));
    }
    let out = wgbgp(&["pubkey"], Some("not a key\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a base64 WireGuard key"));
}

#[test]
fn pubkey_of_a_known_key() {
    // RFC 7748 §6.1 Alice: private a, public X25519(a, 9).
    let private = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
    let out = wgbgp(&["pubkey"], Some(private));
    assert_eq!(
        text(&out.stdout),
        "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\n"
    );
}

#[test]
fn config_check_accepts_and_rejects() {
    let (dir, good, key) = s1_pointing("/etc/wgbgp/private.key", "private.key");
    let out = wgbgp(&["config", "check", good.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "configuration OK\n");

    let bad = dir.path().join("bad.yaml");
    let src = S1
        .replace("/etc/wgbgp/private.key", key.to_str().unwrap())
        .replace("interface: wg-s2", "interface: wg-s2-much-too-long");
    std::fs::write(&bad, src).unwrap();
    let out = wgbgp(&["config", "check", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(
        e.contains("bad.yaml:19: peers.s2.wireguard.interface"),
        "{e}"
    );
    assert!(out.stdout.is_empty());

    // Valid as written, but the group does not exist on this host: both
    // checks refuse it, naming the line and the key.
    let socket = "control_socket: /run/wgbgp/wgbgp.sock";
    let src = S1
        .replace("/etc/wgbgp/private.key", key.to_str().unwrap())
        .replacen(
            socket,
            &format!("{socket}\ncontrol_group: no-such-group-wgbgp"),
            1,
        );
    let line = src
        .lines()
        .position(|l| l.starts_with("control_group"))
        .unwrap()
        + 1;
    std::fs::write(&bad, src).unwrap();
    let expected =
        format!("bad.yaml:{line}: control_group: no group `no-such-group-wgbgp` on this system");
    let out = wgbgp(&["config", "check", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&expected),
        "{}",
        text(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_wgbgpd"))
        .args(["--check", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&expected),
        "{}",
        text(&out.stderr)
    );
}

/// A tunnel interface name taken on this host by something that is not
/// WireGuard (here `lo`, in every network namespace) fails both checks,
/// naming the key and the interface, as the start would fail on it.
#[test]
fn config_check_refuses_an_interface_name_in_use_by_something_else() {
    let (dir, _, key) = s1_pointing("/etc/wgbgp/private.key", "private.key");
    let bad = dir.path().join("bad.yaml");
    let src = S1
        .replace("/etc/wgbgp/private.key", key.to_str().unwrap())
        .replace("interface: wg-s2 ", "interface: lo    ");
    assert_ne!(
        src,
        S1.replace("/etc/wgbgp/private.key", key.to_str().unwrap())
    );
    std::fs::write(&bad, src).unwrap();
    let expected = "bad.yaml:19: peers.s2.wireguard.interface: interface `lo` exists on this \
                    host and is not a WireGuard interface (it is a loopback device)";
    let out = wgbgp(&["config", "check", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(expected),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    // The daemon's own check (the unit's ExecStartPre) only warns: the start
    // does not fail on it either, the peer's tunnel is retried (issue 17).
    let out = Command::new(env!("CARGO_BIN_EXE_wgbgpd"))
        .args(["--check", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("wgbgpd: warning: ") && err.contains(expected),
        "{err}"
    );
}

/// Started without CAP_NET_ADMIN (root under `capsh --drop=cap_net_admin`,
/// or any other user as is), wgbgpd fails at its first netlink change and
/// says what it needs and which line of the unit grants it. The kernel
/// refuses every change, so nothing on the host is touched.
#[test]
fn wgbgpd_without_cap_net_admin_says_what_it_needs() {
    let (dir, cfg, key) = s1_pointing("/etc/wgbgp/private.key", "private.key");
    let socket = dir.path().join("wgbgp.sock");
    let src = S1
        .replace("/etc/wgbgp/private.key", key.to_str().unwrap())
        .replace("/run/wgbgp/wgbgp.sock", socket.to_str().unwrap())
        .replace("metrics: { listen: \"127.0.0.1:9179\" }\n", "");
    std::fs::write(&cfg, src).unwrap();
    let wgbgpd = env!("CARGO_BIN_EXE_wgbgpd");
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let unprivileged = |script: &str, args: &[&str]| {
        let mut c = match root {
            true => {
                let mut c = Command::new("capsh");
                c.args(["--drop=cap_net_admin", "--", "-c", script]);
                c
            }
            false => {
                let mut c = Command::new("sh");
                c.args(["-c", script]);
                c
            }
        };
        c.arg("sh")
            .args(args)
            .output()
            .expect("run capsh (libcap2-bin)")
    };
    // Without CAP_NET_ADMIN indeed (bit 12 of the effective set), before
    // anything runs that could change the host.
    let status = unprivileged("cat /proc/self/status", &[]);
    let caps = text(&status.stdout);
    let eff = caps
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|h| u64::from_str_radix(h.trim(), 16).unwrap())
        .unwrap_or_else(|| panic!("no CapEff: {caps}"));
    assert_eq!(eff & (1 << 12), 0, "CAP_NET_ADMIN still effective: {eff:x}");

    let out = unprivileged(
        "exec timeout 30 \"$1\" --config \"$2\"",
        &[wgbgpd, cfg.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(
        err.contains(
            "wgbgpd needs root, or the capabilities CAP_NET_ADMIN (tunnels, addresses, routes, \
             ip rules) and CAP_NET_BIND_SERVICE (BGP's TCP port 179); the shipped unit \
             wgbgpd.service grants them with AmbientCapabilities=CAP_NET_ADMIN \
             CAP_NET_BIND_SERVICE"
        ),
        "{err}"
    );
    // The unit line named is the one shipped.
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/wgbgpd.service"),
    )
    .unwrap();
    assert!(
        unit.lines()
            .any(|l| l == "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE"),
        "{unit}"
    );
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let out = wgbgp(&["show", "bgp", "nonsense"], None);
    assert_eq!(out.status.code(), Some(1));
    let out = wgbgp(&["--help"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("genkey"));
}

/// Runs a copy of `wgbgp` (in `dir`, so the build directory's permissions do
/// not matter) as user and group 65534 with supplementary `groups`.
fn wgbgp_as_nobody(dir: &Path, groups: &[u32], args: &[&str]) -> Output {
    let bin = dir.join("wgbgp");
    if !bin.exists() {
        std::fs::copy(env!("CARGO_BIN_EXE_wgbgp"), &bin).unwrap();
    }
    let groups: Vec<String> = groups.iter().map(u32::to_string).collect();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534"]);
    if groups.is_empty() {
        cmd.arg("--clear-groups");
    } else {
        cmd.arg(format!("--groups={}", groups.join(",")));
    }
    cmd.arg(&bin)
        .args(args)
        .output()
        .expect("run setpriv (util-linux)")
}

#[tokio::test(flavor = "multi_thread")]
async fn control_socket_access_by_group() {
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test switches users: run it as root"
    );
    const READERS: u32 = 64_242;
    const ADMINS: u32 = 64_243;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = dir.path().join("wgbgp.sock");
    let handler: control::Handler = Arc::new(|req| {
        async move {
            match req {
                Request::Summary => Response::Summary(summary()),
                Request::Reload => Response::Error("reloaded (test daemon)".into()),
                other => Response::Error(format!("the test daemon does not answer {other:?}")),
            }
        }
        .boxed()
    });
    let access = control::Access {
        group: Some(READERS),
        admin_group: Some(ADMINS),
    };
    let server = control::serve(&sock, access, handler).await.unwrap();
    let s = sock.to_str().unwrap().to_string();
    let d = dir.path().to_path_buf();
    let run = move |groups: Vec<u32>, args: &'static [&'static str]| {
        let (s, d) = (s.clone(), d.clone());
        tokio::task::spawn_blocking(move || {
            let mut all = vec!["--socket", s.as_str()];
            all.extend_from_slice(args);
            wgbgp_as_nobody(&d, &groups, &all)
        })
    };

    // A reader may look but not change.
    let out = run(vec![READERS], &["show", "bgp", "summary"])
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("local AS number 65500"));
    let out = run(vec![READERS], &["reload"]).await.unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr)
            .contains("permission denied: `reload` needs root or the control_admin_group"),
        "{}",
        text(&out.stderr)
    );
    // An admin (also in the socket's group, to reach the file) may change.
    let out = run(vec![READERS, ADMINS], &["reload"]).await.unwrap();
    assert!(
        text(&out.stderr).contains("reloaded (test daemon)"),
        "{}",
        text(&out.stderr)
    );
    // Anyone else cannot even connect.
    let out = run(vec![], &["show", "bgp", "summary"]).await.unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("permission denied"),
        "{}",
        text(&out.stderr)
    );
    server.abort();
}

#[test]
fn completions_are_printed_for_each_shell_and_refused_for_an_unknown_one() {
    let bash = wgbgp(&["completions", "bash"], None);
    assert!(bash.status.success());
    let script = text(&bash.stdout);
    // Every subcommand path is offered.
    for word in ["_wgbgp()", "peer-config", "received-routes", "nexthops"] {
        assert!(script.contains(word), "bash completion lacks {word}");
    }
    let zsh = wgbgp(&["completions", "zsh"], None);
    assert!(text(&zsh.stdout).starts_with("#compdef wgbgp"));
    let bad = wgbgp(&["completions", "cmd.exe"], None);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("cmd.exe"));
}

#[test]
fn man_writes_a_page_per_command_and_one_for_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let out = wgbgp(&["man", dir.path().to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = |name: &str| {
        std::fs::read_to_string(dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert!(page("wgbgpd.8").contains(".TH wgbgpd 8"));
    assert!(page("wgbgpd.8").contains("CAP_NET_ADMIN"));
    assert!(page("wgbgp.1").contains(".TH wgbgp 1"));
    assert!(page("wgbgp-show-bgp-neighbors.1").contains("received\\-routes"));
    // clap's own `help` and hidden commands get no page.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains("help") || n.contains("-man")),
        "{names:?}"
    );
}
