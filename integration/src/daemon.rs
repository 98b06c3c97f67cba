//! A third-party router daemon (BIRD, GoBGP, ExaBGP) run in a namespace as a
//! supervised child: its files in a private directory, its output in a log
//! file printed if the test fails, stopped (SIGTERM, SIGKILL after 3 s) on
//! drop. [`crate::Bird`], [`crate::Gobgpd`] and [`crate::ExaBgp`] are built on it.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::netns::{ChildGuard, Netns};
use crate::tempdir::TempDir;

/// One running daemon and its directory.
pub struct Daemon {
    child: Option<ChildGuard>,
    log: PathBuf,
    ns: String,
    label: String,
    log_lines: usize,
    dir: TempDir,
}

impl Daemon {
    /// Starts `cmd` (from [`Netns::command`]) in `ns` with stdin closed and
    /// stdout and stderr in `DIR/LABEL.log`; `dir` holds its config and
    /// sockets and goes with it. `log_lines` of the log are printed if the
    /// test fails.
    pub fn spawn(
        ns: &Netns,
        label: &str,
        dir: TempDir,
        mut cmd: Command,
        log_lines: usize,
    ) -> Daemon {
        let log = dir.join(&format!("{label}.log"));
        let logf = File::create(&log).unwrap_or_else(|e| panic!("create {label} log: {e}"));
        cmd.stdin(Stdio::null())
            .stdout(logf.try_clone().expect("dup log"))
            .stderr(logf);
        Daemon {
            child: Some(ns.spawn(cmd)),
            log,
            ns: ns.name().to_string(),
            label: label.to_string(),
            log_lines,
            dir,
        }
    }

    /// Panics (the log is printed on the way out) if the daemon has exited.
    pub fn check_alive(&mut self) {
        if let Some(c) = self.child.as_mut()
            && let Some(st) = c.try_wait()
        {
            panic!("{} in netns {} exited: {st}", self.label, self.ns);
        }
    }

    /// Everything it has printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The name of its namespace.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// Its private directory.
    pub fn dir(&self) -> &TempDir {
        &self.dir
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        crate::dump_on_panic(
            &format!("{} in {}", self.label, self.ns),
            &self.log,
            self.log_lines,
        );
        if let Some(mut c) = self.child.take() {
            c.stop(Duration::from_secs(3));
        }
    }
}

/// Runs a daemon's control client (`birdc`, `vtysh`, `gobgp`) to its end:
/// its stdout if `answered` says the command worked, else an error naming
/// `what` was asked, with the exit status and both outputs.
pub(crate) fn control_client(
    mut cmd: Command,
    what: &str,
    answered: impl FnOnce(&std::process::Output, &str) -> bool,
) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if answered(&out, &stdout) {
        Ok(stdout)
    } else {
        Err(format!(
            "{what}: {}\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
