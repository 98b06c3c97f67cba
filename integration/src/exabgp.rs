//! ExaBGP 4 running inside a namespace: a peer that announces whatever
//! attributes its config spells out, unknown ones included
//! (`attribute [ 0xfa 0xc0 0x0102 ]`), which BIRD, FRR and GoBGP's CLI
//! cannot originate.
//!
//! ExaBGP runs in the foreground as root with its CLI pipes and listening
//! socket off: it only connects out to the neighbors of its config.

use std::time::Duration;

use crate::daemon::Daemon;
use crate::netns::Netns;
use crate::tempdir::TempDir;

/// `exabgp CONF` in one namespace; stopped on drop.
pub struct ExaBgp {
    daemon: Daemon,
}

impl ExaBgp {
    /// Writes `config` (a complete ExaBGP 4 configuration) and starts
    /// `exabgp CONF` in `ns`. ExaBGP checks the config as it starts: a
    /// config it rejects makes it exit, which this reports with its log.
    pub fn start(ns: &Netns, config: &str) -> ExaBgp {
        crate::require_tool("exabgp", "exabgp");
        let dir = TempDir::new("exabgp");
        let conf = dir.write("exabgp.conf", config);
        let mut cmd = ns.command(&[std::ffi::OsStr::new("exabgp"), conf.as_os_str()]);
        for (k, v) in [
            ("exabgp_daemon_user", "root"),
            ("exabgp_daemon_daemonize", "false"),
            ("exabgp_daemon_drop", "false"),
            ("exabgp_daemon_pid", ""),
            ("exabgp_api_cli", "false"),
            ("exabgp_tcp_bind", ""),
            ("exabgp_log_destination", "stdout"),
            ("exabgp_log_level", "INFO"),
            ("exabgp_log_all", "false"),
            ("exabgp_cache_attributes", "false"),
        ] {
            cmd.env(k, v);
        }
        cmd.current_dir(dir.path());
        let mut x = ExaBgp {
            daemon: Daemon::spawn(ns, "exabgp", dir, cmd, 100),
        };
        // A bad config is reported within a second or two of starting.
        std::thread::sleep(Duration::from_millis(1500));
        x.check_alive();
        x
    }

    /// Panics (the log is printed on the way out) if ExaBGP has exited.
    pub fn check_alive(&mut self) {
        self.daemon.check_alive();
    }

    /// ExaBGP's log so far.
    pub fn log_text(&self) -> String {
        self.daemon.log_text()
    }
}
