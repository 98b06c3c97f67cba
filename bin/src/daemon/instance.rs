//! One wgbgpd per control socket. A second instance started with the same
//! configuration would otherwise purge the first one's routes and underlay
//! pins as "left by an earlier run" before failing on its busy sockets, so
//! the lock is taken before anything touches the kernel: an exclusive
//! `flock` on `<control_socket>.lock`, which holds the owner's pid and is
//! released by the kernel whenever the owner exits, however it exits.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Held for the daemon's lifetime; dropping it releases the lock.
pub(super) struct InstanceLock {
    _file: File,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another wgbgpd{} is running with control socket {}: stop it first (this one changed nothing)",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        socket.display()
    )]
    Running { pid: Option<u32>, socket: PathBuf },
    #[error("lock file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl InstanceLock {
    /// Takes the lock that goes with `socket`, creating its directory.
    pub(super) fn take(socket: &Path) -> Result<InstanceLock, LockError> {
        let mut name = socket.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io(e));
            }
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(LockError::Running {
                pid: text.trim().parse().ok(),
                socket: socket.to_path_buf(),
            });
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(InstanceLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_refused_with_the_owners_pid_until_the_owner_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("run/wgbgp.sock");
        let first = InstanceLock::take(&socket).unwrap();
        let lock = dir.path().join("run/wgbgp.sock.lock");
        assert_eq!(
            std::fs::read_to_string(&lock).unwrap().trim(),
            std::process::id().to_string()
        );
        // flock locks belong to the open file: a second open is refused
        // even within this process.
        let err = InstanceLock::take(&socket).err().unwrap();
        let text = err.to_string();
        assert!(
            text.contains(&format!("(pid {})", std::process::id())),
            "{text}"
        );
        assert!(text.contains("wgbgp.sock"), "{text}");
        drop(first);
        let _again = InstanceLock::take(&socket).unwrap();
    }
}
