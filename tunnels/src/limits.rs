//! Whether the host's limits leave room for the tunnels and sessions a
//! configuration asks for, checked before any tunnel is made.
//!
//! Each userspace tunnel is a `wireguard-go` process, and each of those
//! takes an inotify instance to watch its UAPI socket directory. Instances
//! are counted per user (`fs.inotify.max_user_instances`, 128 by default),
//! across every network namespace, so the hundred-and-somethingth tunnel
//! fails with "too many open files" after the others are up. File
//! descriptors run out the same way: wgbgpd holds two pipes per
//! `wireguard-go` child and a socket per session. Both are known up front,
//! so the start refuses at once with the limit to raise instead of failing
//! half-way. The check is a pure function of [`HostLimits`] and [`Demand`].

use std::io;
use std::path::Path;

use thiserror::Error;

/// The limits as read from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostLimits {
    /// `fs.inotify.max_user_instances`.
    pub inotify_max_user_instances: u64,
    /// Inotify instances held by processes of our user now.
    pub inotify_in_use: u64,
    /// `RLIMIT_NOFILE` (after [`raise_nofile`]).
    pub nofile_soft: u64,
    pub nofile_hard: u64,
}

/// What the configuration needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Demand {
    /// `wireguard-go` processes to start (adopted ones already run).
    pub userspace_tunnels: u64,
    /// BGP sessions (a socket each, two during a connection collision).
    pub peers: u64,
    /// Peers with BFD.
    pub bfd_sessions: u64,
}

/// File descriptors wgbgpd uses whatever the configuration: runtime,
/// netlink sockets, listeners, control and metrics sockets, with room for
/// control clients.
const BASE_FDS: u64 = 128;
/// Per `wireguard-go` child: its stdout and stderr pipes.
const FDS_PER_USERSPACE_TUNNEL: u64 = 2;
/// Per peer: the session socket, and a second one during a connection
/// collision. (A generous estimate would refuse hubs that run fine under
/// a hard limit of 1024.)
const FDS_PER_PEER: u64 = 2;
/// Per BFD session: its transmit socket (the receive sockets are shared).
const FDS_PER_BFD_SESSION: u64 = 1;

/// What does not fit.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LimitError {
    #[error(
        "{tunnels} userspace WireGuard tunnels need {tunnels} inotify instances (one per \
         wireguard-go), but fs.inotify.max_user_instances is {max} and {in_use} are in use: raise \
         it, e.g. `sysctl -w fs.inotify.max_user_instances={suggest}` (and in /etc/sysctl.d/ to \
         keep it), or use the kernel WireGuard module"
    )]
    Inotify {
        tunnels: u64,
        max: u64,
        in_use: u64,
        suggest: u64,
    },
    #[error(
        "{peers} peers and {tunnels} userspace tunnels need about {need} open files, but the \
         limit is {soft} (hard limit {hard}): raise LimitNOFILE in the unit, or `ulimit -n` \
         before starting wgbgpd"
    )]
    Files {
        peers: u64,
        tunnels: u64,
        need: u64,
        soft: u64,
        hard: u64,
    },
}

/// Refuses a demand the limits cannot hold.
pub fn check(limits: &HostLimits, demand: &Demand) -> Result<(), LimitError> {
    let inotify_need = limits.inotify_in_use + demand.userspace_tunnels;
    if demand.userspace_tunnels > 0 && inotify_need > limits.inotify_max_user_instances {
        return Err(LimitError::Inotify {
            tunnels: demand.userspace_tunnels,
            max: limits.inotify_max_user_instances,
            in_use: limits.inotify_in_use,
            // Room to grow: the next power of two above twice the need.
            suggest: (inotify_need * 2).next_power_of_two(),
        });
    }
    let need = BASE_FDS
        + demand.userspace_tunnels * FDS_PER_USERSPACE_TUNNEL
        + demand.peers * FDS_PER_PEER
        + demand.bfd_sessions * FDS_PER_BFD_SESSION;
    if need > limits.nofile_soft {
        return Err(LimitError::Files {
            peers: demand.peers,
            tunnels: demand.userspace_tunnels,
            need,
            soft: limits.nofile_soft,
            hard: limits.nofile_hard,
        });
    }
    Ok(())
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as a daemon that
/// holds a socket per peer should; returns (soft, hard) afterwards.
/// `wireguard-go` children inherit it.
pub fn raise_nofile() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid resource and a pointer to a
    // properly initialised rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok((lim.rlim_cur, lim.rlim_max))
}

impl HostLimits {
    /// Reads the limits of this process and the inotify instances held by
    /// processes of its user (a walk over `/proc/*/fd`).
    pub fn read() -> io::Result<HostLimits> {
        let max = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_instances")?
            .trim()
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in raise_nofile.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        Ok(HostLimits {
            inotify_max_user_instances: max,
            inotify_in_use: inotify_instances_of(uid, Path::new("/proc")),
            nofile_soft: lim.rlim_cur,
            nofile_hard: lim.rlim_max,
        })
    }
}

/// Counts the inotify instances open in processes owned by `uid` under a
/// procfs mounted at `proc`. Processes that go away meanwhile are skipped.
fn inotify_instances_of(uid: u32, proc: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(pids) = std::fs::read_dir(proc) else {
        return 0;
    };
    let mut count = 0;
    for pid in pids.flatten() {
        let is_pid = pid
            .file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid || !pid.metadata().is_ok_and(|m| m.uid() == uid) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(pid.path().join("fd")) else {
            continue;
        };
        count += fds
            .flatten()
            .filter(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == "anon_inode:inotify")
            })
            .count() as u64;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(max: u64, in_use: u64, soft: u64) -> HostLimits {
        HostLimits {
            inotify_max_user_instances: max,
            inotify_in_use: in_use,
            nofile_soft: soft,
            nofile_hard: 1 << 20,
        }
    }

    /// What a config of that many userspace tunnels, peers and BFD sessions
    /// needs.
    fn tunnels_peers_bfd(userspace_tunnels: u64, peers: u64, bfd_sessions: u64) -> Demand {
        Demand {
            userspace_tunnels,
            peers,
            bfd_sessions,
        }
    }

    #[test]
    fn a_hundred_userspace_tunnels_do_not_fit_the_default_inotify_limit() {
        let demand = tunnels_peers_bfd(100, 100, 0);
        // Debian's default: 128 instances, some held by systemd and others.
        let err = check(&host(128, 40, 1 << 20), &demand).unwrap_err();
        assert_eq!(
            err,
            LimitError::Inotify {
                tunnels: 100,
                max: 128,
                in_use: 40,
                suggest: 512
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("fs.inotify.max_user_instances is 128"),
            "{text}"
        );
        assert!(
            text.contains("sysctl -w fs.inotify.max_user_instances=512"),
            "{text}"
        );
        // Raised, it fits.
        assert_eq!(check(&host(1024, 40, 1 << 20), &demand), Ok(()));
    }

    #[test]
    fn plain_peers_need_no_inotify_instances() {
        let demand = tunnels_peers_bfd(0, 1000, 0);
        assert_eq!(check(&host(128, 500, 1 << 20), &demand), Ok(()));
    }

    #[test]
    fn a_thousand_peers_do_not_fit_ulimit_1024_and_the_error_names_the_limit() {
        let demand = tunnels_peers_bfd(150, 1000, 100);
        let err = check(&host(8192, 0, 1024), &demand).unwrap_err();
        let LimitError::Files { need, soft, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!((need, soft), (128 + 300 + 2000 + 100, 1024));
        assert!(err.to_string().contains("LimitNOFILE"));
        assert_eq!(check(&host(8192, 0, 4096), &demand), Ok(()));
    }

    #[test]
    fn inotify_instances_are_counted_from_proc_for_one_user() {
        // This process holds one more after inotify_init1.
        // SAFETY: geteuid has no preconditions; inotify_init1 returns an fd we close.
        let uid = unsafe { libc::geteuid() };
        let before = inotify_instances_of(uid, Path::new("/proc"));
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        assert!(fd >= 0);
        let during = inotify_instances_of(uid, Path::new("/proc"));
        unsafe { libc::close(fd) };
        // Other processes of the user may come and go: at least ours counts.
        assert!(during >= 1, "{before} -> {during}");
        assert_eq!(inotify_instances_of(u32::MAX - 1, Path::new("/proc")), 0);
    }

    #[test]
    fn raising_the_soft_file_limit_reaches_the_hard_limit() {
        let (soft, hard) = raise_nofile().unwrap();
        assert_eq!(soft, hard);
        assert_eq!(HostLimits::read().unwrap().nofile_soft, hard);
    }
}
