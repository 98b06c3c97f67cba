//! A hub's start against the host's limits: a configuration whose
//! userspace tunnels cannot all get an inotify instance, or whose sessions
//! cannot get file descriptors, is refused at once with the limit to raise
//! named, before any tunnel or route exists; one that fits starts with the
//! open-files limit raised to the hard limit.
//!
//! ```text
//!   netns hlim-*: wgbgpd (prlimit --nofile as given), 150+ peers, no neighbours
//! ```

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use integration::config::{Config, Peer, Tunnel};
use integration::wgbgpd::daemon_bin;
use integration::{Netns, TempDir, require_root};

/// Interface names unique to this test process: `hl<pid>x<i>`.
fn ifname(i: usize) -> String {
    format!("hl{}x{i}", std::process::id() % 100_000)
}

/// `n` peers; with tunnels (userspace backend) when `tunnels`, else plain
/// and passive (no connection is attempted anywhere).
fn hub(n: usize, tunnels: bool, dir: &TempDir) -> String {
    // Its own control socket (and instance lock), not the machine's default.
    let socket = dir.join("wgbgp.sock");
    let mut c = Config::new("10.255.0.1", 65000)
        .loopback("10.255.0.1/32")
        .top_level("control_socket", &format!("\"{}\"", socket.display()));
    if tunnels {
        c = c.wireguard(&dir.join("private.key").display().to_string());
    }
    for i in 0..n {
        let address = format!("10.254.{}.{}", i / 250, 1 + i % 250);
        let mut p = Peer::new(&format!("p{i}"), 65001 + i as u32, &address).set("passive", "true");
        if tunnels {
            let key = tunnels::Key::generate_private().get_public().to_base64();
            p = p.tunnel(Tunnel::new(&key, &ifname(i)));
        }
        c = c.peer(p);
    }
    c.accept_all("all").render()
}

/// The hard open-files limit this test runs under (wgbgpd may raise its
/// soft limit up to it; raising the hard one is not ours to do).
fn hard_nofile() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(4).unwrap().parse().unwrap()
}

/// Runs wgbgpd under `prlimit --nofile=SOFT:HARD` until it exits or `for_`
/// passes; returns (exited with success?, seconds, log).
fn run(
    ns: &Netns,
    dir: &TempDir,
    yaml: &str,
    (soft, hard): (u64, u64),
    for_: Duration,
) -> (Option<bool>, f64, String) {
    let config = dir.write("wgbgpd.yaml", yaml);
    let log = dir.join("wgbgpd.log");
    let logf = std::fs::File::create(&log).unwrap();
    let limit = format!("--nofile={soft}:{hard}");
    let mut cmd = ns.command(&[
        "prlimit".as_ref(),
        limit.as_ref(),
        daemon_bin().as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    cmd.env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(logf.try_clone().unwrap())
        .stderr(logf);
    let start = Instant::now();
    let mut child = ns.spawn(cmd);
    let mut exited = None;
    while start.elapsed() < for_ {
        if let Some(status) = child.try_wait() {
            exited = Some(status.success());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let secs = start.elapsed().as_secs_f64();
    if exited.is_none() {
        child.stop(Duration::from_secs(10));
    }
    (
        exited,
        secs,
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

fn no_tunnel_was_made(ns: &Netns, n: usize) {
    let links = ns.stdout(&["ip", "-o", "link"]);
    let prefix = ifname(0);
    let prefix = prefix.trim_end_matches("x0");
    assert!(!links.contains(prefix), "a tunnel was made: {links}");
    for i in 0..n {
        let sock = format!("/var/run/wireguard/{}.sock", ifname(i));
        assert!(!Path::new(&sock).exists(), "{sock} left behind");
    }
}

#[test]
fn more_userspace_tunnels_than_inotify_instances_are_refused_at_once() {
    require_root();
    let max: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_instances")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // 150 on a default host (128), always more than the limit.
    let n = 150.max(max + 1);
    let ns = Netns::new("hlim");
    let dir = TempDir::new("hlim");
    let (exited, secs, log) = run(
        &ns,
        &dir,
        &hub(n, true, &dir),
        (hard_nofile(), hard_nofile()),
        Duration::from_secs(20),
    );
    assert_eq!(exited, Some(false), "wgbgpd did not refuse:\n{log}");
    assert!(secs < 10.0, "refused only after {secs:.1} s");
    assert!(
        log.contains(&format!(
            "{n} userspace WireGuard tunnels need {n} inotify instances"
        )) && log.contains(&format!("fs.inotify.max_user_instances is {max}"))
            && log.contains("sysctl -w fs.inotify.max_user_instances="),
        "{log}"
    );
    no_tunnel_was_made(&ns, n);
}

#[test]
fn a_low_open_files_limit_is_named_and_a_sufficient_one_is_raised_to_the_hard_limit() {
    require_root();
    let ns = Netns::new("hlim");
    let dir = TempDir::new("hlim");
    let yaml = hub(150, false, &dir);

    let (exited, secs, log) = run(&ns, &dir, &yaml, (256, 256), Duration::from_secs(20));
    assert_eq!(exited, Some(false), "wgbgpd did not refuse:\n{log}");
    assert!(secs < 10.0, "refused only after {secs:.1} s");
    assert!(
        log.contains("150 peers and 0 userspace tunnels need about 428 open files")
            && log.contains("the limit is 256")
            && log.contains("LimitNOFILE"),
        "{log}"
    );
    assert!(
        !ns.stdout(&["ip", "-o", "addr"]).contains("10.255.0.1"),
        "lo touched"
    );

    // Enough: it runs, with the soft limit raised to the hard one.
    let hard = hard_nofile();
    assert!(
        hard >= 1024,
        "the test needs a hard limit of at least 1024, not {hard}"
    );
    let (exited, _, log) = run(&ns, &dir, &yaml, (256, hard), Duration::from_secs(3));
    assert_eq!(exited, None, "wgbgpd exited:\n{log}");
    assert!(log.contains(&format!("open_files={hard}")), "{log}");
    // The log was read after 3 s of running: it must say so by then.
    assert!(log.contains("wgbgpd running"), "{log}");
}
