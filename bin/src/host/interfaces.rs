//! What a tunnel's interface name is on this host, in this network
//! namespace: free, a WireGuard interface (wgbgpd adopts it: ours from
//! `keep_on_exit`), or something else, where the start would fail
//! (`tunnels`: "exists as a ... link, not a WireGuard interface").
//!
//! Synchronous and unprivileged, so that `wgbgp config check` can ask as
//! any user: `if_nametoindex(3)`, the driver name from the `ETHTOOL_GDRVINFO`
//! ioctl (the kernel reports a virtual device's link kind there:
//! `wireguard`, `veth`, `tun`, `bridge`), sysfs's `DEVTYPE=wireguard`, and
//! wireguard-go's UAPI socket for a userspace tunnel.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// wireguard-go's UAPI sockets (as `tunnels`' userspace backend).
const UAPI_DIR: &str = "/var/run/wireguard";

/// An interface name on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// No interface of that name.
    Missing,
    /// A kernel WireGuard interface, or a wireguard-go one whose UAPI
    /// socket answers: wgbgpd adopts it.
    WireGuard,
    /// Something else; the kind as the kernel names its driver
    /// (`veth`, `virtio_net`, `tun`, `loopback`, or `unknown`).
    Other(String),
}

/// What `name` is on this host.
pub fn existing(name: &str) -> Existing {
    let Ok(c_name) = CString::new(name) else {
        return Existing::Missing;
    };
    // SAFETY: `c_name` is a NUL-terminated string that outlives the call.
    if unsafe { libc::if_nametoindex(c_name.as_ptr()) } == 0 {
        return Existing::Missing;
    }
    let driver = driver(name);
    let sysfs_wireguard =
        std::fs::read_to_string(Path::new("/sys/class/net").join(name).join("uevent"))
            .is_ok_and(|u| u.lines().any(|l| l == "DEVTYPE=wireguard"));
    if driver.as_deref() == Some("wireguard") || sysfs_wireguard {
        return Existing::WireGuard;
    }
    let socket = Path::new(UAPI_DIR).join(format!("{name}.sock"));
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        return Existing::WireGuard;
    }
    let loopback = std::fs::read_to_string(Path::new("/sys/class/net").join(name).join("type"))
        .is_ok_and(|t| t.trim() == "772"); // ARPHRD_LOOPBACK
    Existing::Other(match driver {
        Some(d) => d,
        None if loopback || name == "lo" => "loopback".into(),
        None => "unknown".into(),
    })
}

/// `struct ethtool_drvinfo` (linux/ethtool.h).
#[repr(C)]
struct DrvInfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;

/// The driver name `ethtool -i` shows; `None` when the device has none.
fn driver(name: &str) -> Option<String> {
    if name.len() >= libc::IFNAMSIZ {
        return None;
    }
    // SAFETY: plain socket(2); the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` is a socket we just opened and own.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid `ethtool_drvinfo` and `ifreq`.
    let mut info: DrvInfo = unsafe { std::mem::zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    // SAFETY: as above.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    req.ifr_ifru.ifru_data = (&mut info as *mut DrvInfo).cast();
    // SAFETY: SIOCETHTOOL reads `req` (a NUL-terminated name, shorter than
    // IFNAMSIZ) and writes at most `size_of::<DrvInfo>()` bytes to `info`,
    // which lives until the call returns.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCETHTOOL, &mut req) };
    if rc < 0 {
        return None;
    }
    let end = info.driver.iter().position(|b| *b == 0).unwrap_or(32);
    let d = String::from_utf8_lossy(&info.driver[..end]).into_owned();
    (!d.is_empty()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lo_exists_and_is_not_wireguard_and_a_made_up_name_is_missing() {
        assert_eq!(existing("lo"), Existing::Other("loopback".into()));
        assert_eq!(existing("wgbgp-nx0"), Existing::Missing);
        assert_eq!(existing("bad\0name"), Existing::Missing);
    }
}
