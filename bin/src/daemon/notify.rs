//! systemd's readiness protocol (sd_notify): `READY=1` once the daemon
//! serves, `STOPPING=1` when it shuts down, `WATCHDOG=1` while the shell
//! is alive. Without `NOTIFY_SOCKET` (not under systemd) every call is a
//! no-op.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

fn send(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    // A leading '@' names a socket in the abstract namespace.
    let addr = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(&path),
    };
    let sent = addr.and_then(|addr| {
        let sock = UnixDatagram::unbound()?;
        sock.send_to_addr(state.as_bytes(), &addr)
    });
    if let Err(e) = sent {
        tracing::warn!(socket = %path, error = %e, "sd_notify failed");
    }
}

pub fn ready() {
    send("READY=1\nSTATUS=running");
}

pub fn stopping() {
    send("STOPPING=1");
}

pub fn watchdog() {
    send("WATCHDOG=1");
}

/// Half of systemd's `WatchdogSec` (`WATCHDOG_USEC`), or an hour when no
/// watchdog is configured.
pub fn watchdog_interval() -> Duration {
    std::env::var("WATCHDOG_USEC")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|us| *us > 0)
        .map_or(Duration::from_secs(3600), |us| {
            Duration::from_micros(us / 2)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_reaches_the_notify_socket() {
        let dir = std::env::temp_dir().join(format!("wgbgp-notify-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let listener = UnixDatagram::bind(&dir).unwrap();
        // SAFETY: tests in this module are the only readers of NOTIFY_SOCKET.
        unsafe { std::env::set_var("NOTIFY_SOCKET", &dir) };
        ready();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        unsafe { std::env::remove_var("NOTIFY_SOCKET") };
        let _ = std::fs::remove_file(&dir);
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=running");
    }
}
