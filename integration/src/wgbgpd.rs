//! The daemon under test, `wgbgpd`, run inside a namespace, and its CLI `wgbgp`.
//!
//! Binaries are found in this order: `$WGBGPD_BIN` / `$WGBGP_BIN`; next to the
//! running test executable's profile directory (`target/release/` when the
//! tests run with `--release`); `$CARGO_TARGET_DIR/release/`; the workspace's
//! `target/release/`. Tests do not build them: `cargo build --release --bins`
//! (scripts/test.sh) does.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use crate::netns::{ChildGuard, Netns};
use crate::tempdir::TempDir;

/// Written in a config given to [`Wgbgpd::start`], replaced by the instance's
/// private directory: `private_key_file: "@DIR@/private.key"`.
pub const DIR_TOKEN: &str = "@DIR@";

/// Finds a release binary of this workspace (see the module doc).
pub fn workspace_bin(name: &str, env: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "${env} points to {}, which does not exist",
            p.display()
        );
        return p;
    }
    let mut candidates = Vec::new();
    // <target>/<profile>/deps/<test-exe> -> <target>/<profile>/
    if let Ok(exe) = std::env::current_exe()
        && let Some(profile) = exe.parent().and_then(|d| d.parent())
    {
        candidates.push(profile.join(name));
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(t).join("release").join(name));
    }
    candidates.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/release")
            .join(name),
    );
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!(
        "the `{name}` binary was not found (looked at {}): build it first with \
         `cargo build --release --workspace --bins`, or set ${env} to its path",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// The daemon binary.
pub fn daemon_bin() -> PathBuf {
    workspace_bin("wgbgpd", "WGBGPD_BIN")
}

/// The CLI binary.
pub fn cli_bin() -> PathBuf {
    workspace_bin("wgbgp", "WGBGP_BIN")
}

/// One `wgbgpd --config FILE` running in a namespace; stderr goes to a log file
/// printed if the test fails. Killed on drop.
pub struct Wgbgpd {
    child: Option<ChildGuard>,
    ns: String,
    config: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    starts: u32,
    dir: TempDir,
}

impl Wgbgpd {
    /// Writes `yaml` (with [`DIR_TOKEN`] replaced by a fresh private directory)
    /// and starts the daemon in `ns`, then waits up to 10 s for its control
    /// socket. Panics with the daemon's log if it exits first.
    ///
    /// So that instances never share files across namespaces, a config without
    /// a top-level `control_socket:` gets `control_socket: DIR/wgbgp.sock`, and
    /// one without `private_key_file` and without a top-level `wireguard:` gets
    /// `wireguard: {private_key_file: DIR/private.key}` appended.
    pub fn start(ns: &Netns, yaml: &str) -> Wgbgpd {
        let mut d = Wgbgpd::spawn(ns, yaml);
        d.wait_ready(ns, Duration::from_secs(10));
        d
    }

    /// Like [`Wgbgpd::start`] but returns as soon as the process is started.
    pub fn spawn(ns: &Netns, yaml: &str) -> Wgbgpd {
        let dir = TempDir::new("wgbgpd");
        let (text, socket) = complete_config(yaml, dir.path());
        let config = dir.write("wgbgpd.yaml", &text);
        let log = dir.join("wgbgpd.log");
        let mut d = Wgbgpd {
            child: None,
            ns: ns.name().to_string(),
            config,
            socket,
            log,
            starts: 0,
            dir,
        };
        d.launch(ns);
        d
    }

    /// Makes `yaml` (completed as at start: same control socket and key
    /// directory) the config and runs `wgbgp reload`; returns its output.
    pub fn reload_with(&self, ns: &Netns, yaml: &str) -> String {
        let (text, _) = complete_config(yaml, self.dir.path());
        std::fs::write(&self.config, text).expect("write wgbgpd config");
        self.cli(ns, &["reload"])
    }

    fn launch(&mut self, ns: &Netns) {
        assert_eq!(ns.name(), self.ns, "wgbgpd restarted in another netns");
        assert!(
            self.child.is_none(),
            "wgbgpd in {} is already running",
            self.ns
        );
        let bin = daemon_bin();
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open wgbgpd log");
        self.starts += 1;
        let mut banner = logf.try_clone().expect("dup log");
        let _ = std::io::Write::write_all(
            &mut banner,
            format!(
                "===== harness: start #{} of {} =====\n",
                self.starts,
                bin.display()
            )
            .as_bytes(),
        );
        let mut cmd = ns.command(&[
            bin.as_os_str(),
            "--config".as_ref(),
            self.config.as_os_str(),
        ]);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        cmd.stdin(Stdio::null())
            .stdout(logf.try_clone().expect("dup log"))
            .stderr(logf);
        self.child = Some(ns.spawn(cmd));
    }

    /// Waits until the control socket exists, panicking if the daemon exits or
    /// `timeout` passes.
    pub fn wait_ready(&mut self, ns: &Netns, timeout: Duration) {
        let _ = ns;
        let sock = self.socket.clone();
        crate::wait_for(
            timeout,
            Duration::from_millis(50),
            &format!("wgbgpd in netns {} to open {}", self.ns, sock.display()),
            || {
                self.check_alive();
                // A socket file left by a killed predecessor exists but
                // refuses connections: only an accepted connection counts.
                match std::os::unix::net::UnixStream::connect(&sock) {
                    Ok(_) => Ok(()),
                    Err(_) => Err(self.log_tail(20)),
                }
            },
        );
    }

    /// The daemon's process id (0 once it has been stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Panics (the log is printed on the way out) if the daemon has exited.
    pub fn check_alive(&mut self) {
        if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait()) {
            panic!("wgbgpd in netns {} exited: {st}", self.ns);
        }
    }

    /// Sends `sig` (e.g. `libc::SIGHUP`) to the daemon.
    pub fn signal(&self, sig: i32) {
        self.child
            .as_ref()
            .expect("wgbgpd is not running")
            .signal(sig);
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().is_none(),
            None => false,
        }
    }

    /// Sends SIGTERM and waits up to 10 s for a clean exit (SIGKILL after
    /// that); returns the exit status. The daemon is expected to withdraw
    /// its routes before exiting.
    pub fn stop(&mut self) -> ExitStatus {
        let mut c = self
            .child
            .take()
            .unwrap_or_else(|| panic!("wgbgpd in {} is not running", self.ns));
        c.stop(Duration::from_secs(10))
    }

    /// Starts the daemon again with the same config and directory (same key
    /// file, same socket path) and waits for its control socket.
    pub fn restart(&mut self, ns: &Netns) {
        if self.child.is_some() {
            self.stop();
        }
        self.launch(ns);
        self.wait_ready(ns, Duration::from_secs(10));
    }

    /// Runs the daemon with `yaml` and expects it to exit (config rejected)
    /// within 10 s; returns its exit status and everything it printed.
    pub fn expect_exit(ns: &Netns, yaml: &str) -> (ExitStatus, String) {
        let mut d = Wgbgpd::spawn(ns, yaml);
        let status = crate::wait_for(
            Duration::from_secs(10),
            Duration::from_millis(50),
            "wgbgpd to exit",
            || {
                d.child
                    .as_mut()
                    .and_then(|c| c.try_wait())
                    .ok_or_else(|| d.log_tail(20))
            },
        );
        d.child = None;
        (status, d.log_text())
    }

    /// The control socket path (from the config, or the one the harness added).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The instance's private directory (what [`DIR_TOKEN`] became).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The config file as written.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Everything the daemon has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Runs `wgbgp --socket SOCK ARGS...` in `ns`; panics on failure.
    pub fn cli(&self, ns: &Netns, args: &[&str]) -> String {
        wgbgp_cli(ns, &self.socket, args)
    }

    /// Runs `wgbgp --socket SOCK ARGS... --json` and parses the output.
    pub fn cli_json(&self, ns: &Netns, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let text = self.cli(ns, &a);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("wgbgp {} gave no JSON ({e}):\n{text}", a.join(" ")))
    }

    /// The FRR-style state of peer `addr` in `show bgp summary --json`
    /// (`ipv4Unicast.peers[addr].state`, falling back to `ipv6Unicast`).
    pub fn peer_state(&self, ns: &Netns, addr: &str) -> Option<String> {
        let v = self.cli_json(ns, &["show", "bgp", "summary"]);
        ["ipv4Unicast", "ipv6Unicast"].iter().find_map(|af| {
            v.get(af)?
                .get("peers")?
                .get(addr)?
                .get("state")?
                .as_str()
                .map(String::from)
        })
    }

    /// Waits until peer `addr` is Established, panicking with the summary and
    /// the daemon's recent log otherwise.
    pub fn wait_established(&mut self, ns: &Netns, addr: &str, timeout: Duration) {
        crate::wait_for(
            timeout,
            Duration::from_millis(250),
            &format!(
                "wgbgpd in netns {} to reach Established with {addr}",
                self.ns
            ),
            || {
                self.check_alive();
                let state = self.peer_state(ns, addr);
                if state.as_deref() == Some("Established") {
                    Ok(())
                } else {
                    Err(format!("state {state:?}\nlog:\n{}", self.log_tail(30)))
                }
            },
        );
    }
}

impl Drop for Wgbgpd {
    fn drop(&mut self) {
        crate::dump_on_panic(&format!("wgbgpd in {}", self.ns), &self.log, 300);
        if let Some(mut c) = self.child.take() {
            c.stop(Duration::from_secs(5));
        }
    }
}

/// Runs `wgbgp --socket SOCKET ARGS...` in `ns` and returns stdout; panics
/// with stderr if it fails.
pub fn wgbgp_cli(ns: &Netns, socket: &Path, args: &[&str]) -> String {
    let bin = cli_bin();
    let mut full = vec![bin.as_os_str(), "--socket".as_ref(), socket.as_os_str()];
    full.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
    ns.stdout(&full)
}

/// Replaces [`DIR_TOKEN`] and adds per-instance paths the config leaves to
/// defaults shared by every namespace (see [`Wgbgpd::start`]). Returns the
/// text and the control socket path.
fn complete_config(yaml: &str, dir: &Path) -> (String, PathBuf) {
    let d = dir.to_string_lossy();
    let mut text = yaml.replace(DIR_TOKEN, &d);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let top_level = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
            .map(|v| {
                v.split('#')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches('"')
                    .to_string()
            })
    };
    let socket = match top_level(&text, "control_socket") {
        Some(s) if !s.is_empty() => PathBuf::from(s),
        _ => {
            let s = dir.join("wgbgp.sock");
            text.push_str(&format!("control_socket: \"{}\"\n", s.display()));
            s
        }
    };
    if !text.contains("private_key_file") && top_level(&text, "wireguard").is_none() {
        text.push_str(&format!(
            "wireguard:\n  private_key_file: \"{}\"\n",
            dir.join("private.key").display()
        ));
    }
    (text, socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_gets_private_paths() {
        let (text, sock) =
            complete_config("router_id: 1.1.1.1\nasn: 65500\npeers: {}", Path::new("/x"));
        assert_eq!(sock, PathBuf::from("/x/wgbgp.sock"));
        assert!(
            text.contains("control_socket: \"/x/wgbgp.sock\"\n"),
            "{text}"
        );
        assert!(
            text.contains("  private_key_file: \"/x/private.key\"\n"),
            "{text}"
        );
    }

    #[test]
    fn config_paths_given_are_kept() {
        let yaml = "control_socket: \"@DIR@/c.sock\" # here\nwireguard:\n  backend: userspace\n";
        let (text, sock) = complete_config(yaml, Path::new("/y"));
        assert_eq!(sock, PathBuf::from("/y/c.sock"));
        assert_eq!(text.matches("control_socket").count(), 1);
        assert!(!text.contains("private_key_file"), "{text}");
    }
}
