//! Shared harness for namespace tests: everything a test needs to build a small
//! network of Linux network namespaces and run real routers in it.
//!
//! - [`netns`]: the [`Netns`] guard, child processes, veth links, sysctls.
//! - [`names`]: machine-unique namespace and interface names.
//! - [`lab`]: the lab builder: the seed lab of the blog post (S1, R1, S2, S3),
//!   namespace pairs, key files, hand-made tunnel ends, two-wgbgpd tunnel labs.
//! - [`config`]: a typed builder for wgbgpd's YAML config.
//! - [`daemon`]: a third-party daemon as a supervised child with a log.
//! - [`wg`]: WireGuard tunnels made by hand with wireguard-go and `wg`, as the
//!   blog post does, for BIRD and FRR peers.
//! - [`bird`], [`frr`], [`gobgp`]: BIRD 2, FRR (zebra + bgpd) and GoBGP
//!   running inside a namespace.
//! - [`capture`]: tcpdump inside a namespace, and TCP payloads out of a pcap.
//! - [`rawpeer`]: a BGP peer that writes raw bytes, for malformed-input tests.
//! - [`wgbgpd`]: the daemon under test and its CLI.
//!
//! Every guard cleans up on drop, so a failing assertion tears the lab down too.
//! Namespace tests must run as root; [`require_root`] fails (never skips) a
//! test that cannot.

pub mod bench;
pub mod bird;
pub mod capture;
pub mod config;
pub mod daemon;
pub mod exabgp;
pub mod frr;
pub mod gobgp;
pub mod lab;
pub mod metrics;
pub mod names;
pub mod netns;
pub mod rawpeer;
pub mod soak;
pub mod tempdir;
pub mod wg;
pub mod wgbgpd;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use bird::Bird;
pub use capture::Capture;
pub use config::{Config, Peer, Tunnel};
pub use exabgp::ExaBgp;
pub use frr::Frr;
pub use gobgp::Gobgpd;
pub use lab::{HandTunnel, Keys, Leftovers, Pair, SeedLab, WgbgpdPair};
pub use names::{ifname, unique_name};
pub use netns::{ChildGuard, Netns, link, veth};
pub use rawpeer::RawPeer;
pub use tempdir::TempDir;
pub use wg::{WgKey, WgPeer, WgPeerConfig};
pub use wgbgpd::{Wgbgpd, wgbgp_cli};

/// Fails the calling test unless it runs as root on a kernel where
/// `ip netns add` works. Namespace tests must not pass by skipping.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        panic!(
            "namespace tests need root (euid is {euid}); run them as root, e.g. \
             `sudo bash scripts/test.sh`"
        );
    }
    let probe = format!("{}-probe", unique_name(netns::NETNS_PREFIX));
    let out = Command::new("ip")
        .args(["netns", "add", &probe])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let _ = Command::new("ip").args(["netns", "del", &probe]).status();
        }
        Ok(o) => panic!(
            "`ip netns add` does not work here, so namespace tests cannot run: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("cannot run `ip` (iproute2 missing?): {e}"),
    }
}

/// Fails the calling test if `program` is not on PATH (or not an existing
/// absolute path), naming the Debian package to install.
pub fn require_tool(program: &str, package: &str) {
    let found = if program.contains('/') {
        Path::new(program).exists()
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
            .unwrap_or(false)
    };
    if !found {
        panic!("`{program}` is missing: install it with `apt-get install {package}`");
    }
}

/// How long a lab's BGP session may take to reach Established.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the tests look again while they wait for something.
pub const POLL: Duration = Duration::from_millis(200);

/// Polls `f` every `poll` until it returns true; panics after `timeout` naming
/// `what` and how long it waited.
pub fn wait_until(timeout: Duration, poll: Duration, what: &str, mut f: impl FnMut() -> bool) {
    wait_for(timeout, poll, what, || {
        if f() {
            Ok(())
        } else {
            Err("condition still false".to_string())
        }
    })
}

/// Polls `f` every `poll` until it returns `Ok`; panics after `timeout` with
/// `what` and the last error `f` gave, which is usually the useful part
/// (the routes that were there instead, the state the session was in).
pub fn wait_for<T>(
    timeout: Duration,
    poll: Duration,
    what: &str,
    mut f: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) => {
                if start.elapsed() >= timeout {
                    panic!(
                        "timed out after {:.1?} waiting for {what}\nlast observation:\n{last}",
                        start.elapsed()
                    );
                }
            }
        }
        std::thread::sleep(poll);
    }
}

/// Prints a log file to stderr under a heading if the current thread is
/// panicking, so a failed test shows what its daemons said.
pub(crate) fn dump_on_panic(label: &str, path: &Path, lines: usize) {
    if std::thread::panicking() {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("<unreadable: {e}>"));
        let tail: Vec<&str> = text.lines().rev().take(lines).collect();
        eprintln!(
            "----- {label} ({}; last {} lines) -----",
            path.display(),
            tail.len()
        );
        for line in tail.into_iter().rev() {
            eprintln!("{line}");
        }
        eprintln!("----- end of {label} -----");
    }
}
