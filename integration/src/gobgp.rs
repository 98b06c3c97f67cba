//! GoBGP (`gobgpd`) running inside a namespace: a third implementation to
//! peer with and to capture reference messages from. Its gRPC API listens on
//! the namespace's own 127.0.0.1, so instances never collide; the `gobgp`
//! CLI runs inside the namespace to reach it.

use std::time::Duration;

use crate::daemon::{Daemon, control_client};
use crate::netns::Netns;
use crate::tempdir::TempDir;

/// The gRPC address inside the namespace.
const API: &str = "127.0.0.1:50051";

/// `gobgpd` in one namespace; stopped on drop.
pub struct Gobgpd {
    daemon: Daemon,
}

impl Gobgpd {
    /// Writes `toml` (a complete gobgpd config) and starts
    /// `gobgpd -f CONF -t toml -p --api-hosts 127.0.0.1:50051` in `ns`,
    /// waiting until `gobgp global` answers. Panics with its log if it exits.
    pub fn start(ns: &Netns, toml: &str) -> Gobgpd {
        crate::require_tool("gobgpd", "gobgpd");
        crate::require_tool("gobgp", "gobgpd");
        let dir = TempDir::new("gobgp");
        let conf = dir
            .write("gobgpd.toml", toml)
            .to_string_lossy()
            .into_owned();
        let cmd = ns.command(&[
            "gobgpd",
            "-f",
            &conf,
            "-t",
            "toml",
            "-p",
            "--api-hosts",
            API,
            "--pprof-disable",
        ]);
        let mut g = Gobgpd {
            daemon: Daemon::spawn(ns, "gobgpd", dir, cmd, 100),
        };
        crate::wait_for(
            Duration::from_secs(10),
            Duration::from_millis(100),
            "gobgpd to answer on its API",
            || {
                g.check_alive();
                g.try_cli(ns, &["global"])
            },
        );
        g
    }

    /// Panics (the log is printed on the way out) if gobgpd has exited.
    pub fn check_alive(&mut self) {
        self.daemon.check_alive();
    }

    /// Runs `gobgp -u 127.0.0.1 -p 50051 ARGS...` in `ns`; stdout or the error.
    pub fn try_cli(&self, ns: &Netns, args: &[&str]) -> Result<String, String> {
        let mut full = vec!["gobgp", "-u", "127.0.0.1", "-p", "50051"];
        full.extend_from_slice(args);
        let what = format!("gobgp {}", args.join(" "));
        control_client(ns.command(&full), &what, |out, _| out.status.success())
    }

    /// Runs `gobgp ARGS...` in `ns`; panics on failure. E.g.
    /// `&["global", "rib", "add", "198.51.100.3/32"]` to originate a prefix.
    pub fn cli(&self, ns: &Netns, args: &[&str]) -> String {
        self.try_cli(ns, args)
            .unwrap_or_else(|e| panic!("gobgpd in netns {}: {e}", self.daemon.ns()))
    }

    /// The session state of `neighbor` (`"established"`, `"active"`, ...)
    /// from `gobgp neighbor ADDR -j`; `None` if unknown.
    pub fn neighbor_state(&self, ns: &Netns, neighbor: &str) -> Option<String> {
        let text = self.try_cli(ns, &["neighbor", neighbor, "-j"]).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        let state = v.get("state")?.get("session_state")?;
        if let Some(s) = state.as_str() {
            return Some(s.to_ascii_lowercase());
        }
        // GoBGP 3 prints the protobuf enum's number (apipb.PeerState.SessionState).
        let name = match state.as_u64()? {
            1 => "idle",
            2 => "connect",
            3 => "active",
            4 => "opensent",
            5 => "openconfirm",
            6 => "established",
            _ => "unknown",
        };
        Some(name.to_string())
    }

    /// Waits until `neighbor` is established.
    pub fn wait_established(&mut self, ns: &Netns, neighbor: &str, timeout: Duration) {
        crate::wait_for(
            timeout,
            Duration::from_millis(250),
            &format!(
                "gobgpd in netns {} to reach established with {neighbor}",
                self.daemon.ns()
            ),
            || {
                self.check_alive();
                match self.neighbor_state(ns, neighbor) {
                    Some(s) if s == "established" => Ok(()),
                    other => Err(format!("state {other:?}")),
                }
            },
        );
    }
}
