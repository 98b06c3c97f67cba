//! WireGuard tunnels made by hand, exactly as the seed post does: one
//! interface per peer, AllowedIPs 0.0.0.0/0 and ::/0, no address, no routes
//! from AllowedIPs. Used to give BIRD and FRR peers their tunnel (wgbgpd makes
//! its own). The userspace implementation (wireguard-go) runs as a supervised
//! foreground child, killed when the [`WgPeer`] drops.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::netns::{ChildGuard, Netns, show_args};
use crate::tempdir::TempDir;

/// Where wireguard-go puts its UAPI sockets (shared by all namespaces).
pub const WG_SOCKET_DIR: &str = "/var/run/wireguard";

/// A WireGuard key pair in base64, as `wg genkey` / `wg pubkey` print it.
#[derive(Clone, Debug)]
pub struct WgKey {
    /// The private key.
    pub private: String,
    /// The public key derived from it.
    pub public: String,
}

impl WgKey {
    /// Generates a key pair with `wg genkey` and `wg pubkey`.
    pub fn generate() -> WgKey {
        crate::require_tool("wg", "wireguard-tools");
        let private = run_stdin(&["wg", "genkey"], "");
        let public = run_stdin(&["wg", "pubkey"], &private);
        WgKey {
            private: private.trim().to_string(),
            public: public.trim().to_string(),
        }
    }

    /// The public key of an existing private key (`wg pubkey`).
    pub fn public_of(private: &str) -> String {
        run_stdin(&["wg", "pubkey"], private).trim().to_string()
    }
}

fn run_stdin(args: &[&str], input: &str) -> String {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", show_args(args)));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    if !out.status.success() {
        panic!(
            "`{}` failed: {}",
            show_args(args),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How to set up one hand-made tunnel end.
#[derive(Clone, Debug, Default)]
pub struct WgPeerConfig {
    /// This end's private key (base64).
    pub private_key: String,
    /// UDP port to listen on; `None` lets the implementation pick.
    pub listen_port: Option<u16>,
    /// The other end's public key (base64).
    pub peer_public_key: String,
    /// The other end's `ip:port`, if this end initiates.
    pub endpoint: Option<String>,
    /// Seconds between keepalives, if any.
    pub persistent_keepalive: Option<u16>,
    /// Interface MTU, if not the default.
    pub mtu: Option<u16>,
}

/// One WireGuard interface with a single peer, living in a namespace.
pub struct WgPeer {
    ns: String,
    ifname: String,
    child: Option<ChildGuard>,
    log: PathBuf,
    _dir: TempDir,
}

impl WgPeer {
    /// Creates a userspace WireGuard interface named from `tag` (machine-unique,
    /// see [`crate::ifname`]) in `ns`, configures it like `wg-quick` with
    /// `Table = off` and AllowedIPs 0.0.0.0/0, ::/0, and brings it up. No
    /// address is put on it; add routes with [`WgPeer::route`].
    pub fn start(ns: &Netns, tag: &str, cfg: &WgPeerConfig) -> WgPeer {
        WgPeer::start_named(ns, &crate::ifname(tag), cfg)
    }

    /// [`WgPeer::start`] on an interface name the caller made with
    /// [`crate::ifname`], for a name some config has to know first (the
    /// tunnels of an FRR node that wgbgpd makes again after it).
    pub fn start_named(ns: &Netns, ifname: &str, cfg: &WgPeerConfig) -> WgPeer {
        crate::require_tool("wireguard-go", "wireguard-go");
        crate::require_tool("wg", "wireguard-tools");
        let dir = TempDir::new("wg");
        let ifname = ifname.to_string();
        let log = dir.join("wireguard-go.log");
        let logf = File::create(&log).expect("create wireguard-go log");
        let mut cmd = ns.command(&["wireguard-go", &ifname]);
        cmd.env("WG_PROCESS_FOREGROUND", "1")
            .env("LOG_LEVEL", "verbose")
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("dup log"))
            .stderr(logf);
        let mut child = ns.spawn(cmd);
        let sock = PathBuf::from(format!("{WG_SOCKET_DIR}/{ifname}.sock"));
        let mut peer = WgPeer {
            ns: ns.name().to_string(),
            ifname,
            child: None,
            log,
            _dir: dir,
        };
        crate::wait_for(
            Duration::from_secs(5),
            Duration::from_millis(20),
            &format!("wireguard-go to create {}", sock.display()),
            || {
                if let Some(st) = child.try_wait() {
                    panic!(
                        "wireguard-go for {} exited ({st}):\n{}",
                        peer.ifname,
                        std::fs::read_to_string(&peer.log).unwrap_or_default()
                    );
                }
                if sock.exists() {
                    Ok(())
                } else {
                    Err("no socket yet".into())
                }
            },
        );
        peer.child = Some(child);

        let key = peer
            ._dir
            .write("private.key", &format!("{}\n", cfg.private_key));
        let key = key.to_string_lossy().into_owned();
        let mut args: Vec<String> = ["wg", "set", &peer.ifname, "private-key", &key]
            .map(String::from)
            .to_vec();
        if let Some(p) = cfg.listen_port {
            args.extend(["listen-port".into(), p.to_string()]);
        }
        args.extend(["peer".into(), cfg.peer_public_key.clone()]);
        if let Some(e) = &cfg.endpoint {
            args.extend(["endpoint".into(), e.clone()]);
        }
        if let Some(k) = cfg.persistent_keepalive {
            args.extend(["persistent-keepalive".into(), k.to_string()]);
        }
        args.extend(["allowed-ips".into(), "0.0.0.0/0,::/0".into()]);
        ns.exec(&args);
        if let Some(mtu) = cfg.mtu {
            ns.exec(&["ip", "link", "set", &peer.ifname, "mtu", &mtu.to_string()]);
        }
        ns.exec(&["ip", "link", "set", &peer.ifname, "up"]);
        peer
    }

    /// The interface name.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// Adds `ip route add DST dev IFNAME` in the tunnel's namespace, e.g. the
    /// host route to the other side's loopback (`"2.2.2.2/32"`).
    pub fn route(&self, ns: &Netns, dst: &str) {
        assert_eq!(
            ns.name(),
            self.ns,
            "route for {} added in the wrong netns",
            self.ifname
        );
        ns.exec(&["ip", "route", "add", dst, "dev", &self.ifname]);
    }

    /// `wg show IFNAME` output.
    pub fn show(&self, ns: &Netns) -> String {
        ns.stdout(&["wg", "show", &self.ifname])
    }

    /// Seconds since the Unix epoch of the latest handshake, 0 if none yet.
    pub fn latest_handshake(&self, ns: &Netns) -> u64 {
        ns.stdout(&["wg", "show", &self.ifname, "latest-handshakes"])
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for WgPeer {
    fn drop(&mut self) {
        crate::dump_on_panic(&format!("wireguard-go {}", self.ifname), &self.log, 40);
        if let Some(mut c) = self.child.take() {
            // SIGTERM lets wireguard-go remove its socket and TUN device itself.
            c.stop(Duration::from_secs(2));
        }
        let _ = std::fs::remove_file(format!("{WG_SOCKET_DIR}/{}.sock", self.ifname));
    }
}
