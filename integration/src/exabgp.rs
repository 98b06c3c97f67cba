//! ExaBGP 4 running inside a namespace: a peer that announces whatever
//! attributes its config spells out, unknown ones included
//! (`attribute [ 0xfa 0xc0 0x0102 ]`), which BIRD, FRR and GoBGP's CLI
//! cannot originate.
//!
//! ExaBGP runs in the foreground as root with its CLI pipes and listening
//! socket off: it only connects out to the neighbors of its config.

use std::fs::File;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::netns::{ChildGuard, Netns};
use crate::tempdir::TempDir;

/// `exabgp CONF` in one namespace; killed (SIGTERM) on drop.
pub struct ExaBgp {
    child: Option<ChildGuard>,
    log: PathBuf,
    ns: String,
    _dir: TempDir,
}

impl ExaBgp {
    /// Writes `config` (a complete ExaBGP 4 configuration) and starts
    /// `exabgp CONF` in `ns`. ExaBGP checks the config as it starts: a
    /// config it rejects makes it exit, which this reports with its log.
    pub fn start(ns: &Netns, config: &str) -> ExaBgp {
        crate::require_tool("exabgp", "exabgp");
        let dir = TempDir::new("exabgp");
        let conf = dir.write("exabgp.conf", config);
        let log = dir.join("exabgp.log");
        let logf = File::create(&log).expect("create exabgp log");
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
        cmd.current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("dup log"))
            .stderr(logf);
        let mut x = ExaBgp {
            child: Some(ns.spawn(cmd)),
            log,
            ns: ns.name().to_string(),
            _dir: dir,
        };
        // A bad config is reported within a second or two of starting.
        std::thread::sleep(Duration::from_millis(1500));
        x.check_alive();
        x
    }

    /// Panics (the log is printed on the way out) if ExaBGP has exited.
    pub fn check_alive(&mut self) {
        if let Some(c) = self.child.as_mut()
            && let Some(st) = c.try_wait()
        {
            panic!("exabgp in netns {} exited: {st}", self.ns);
        }
    }

    /// ExaBGP's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ExaBgp {
    fn drop(&mut self) {
        crate::dump_on_panic(&format!("exabgp in {}", self.ns), &self.log, 100);
        if let Some(mut c) = self.child.take() {
            c.stop(Duration::from_secs(3));
        }
    }
}
