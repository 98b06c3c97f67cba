//! [`TunnelError`]: every failure names the interface, path or operation it concerns.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Errors from [`crate::TunnelManager`].
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("invalid interface name {interface:?}: {reason}")]
    InvalidInterfaceName {
        interface: String,
        reason: &'static str,
    },

    #[error("{interface}: invalid tunnel spec: {reason}")]
    InvalidSpec { interface: String, reason: String },

    #[error("opening a netlink socket for {operation}: {source}")]
    NetlinkSocket {
        operation: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("{interface}: netlink {operation} failed: {source}")]
    Netlink {
        interface: String,
        operation: String,
        #[source]
        source: rtnetlink::Error,
    },

    #[error("{interface}: no such link")]
    LinkNotFound { interface: String },

    #[error(
        "{interface}: exists as a {kind} link, not a WireGuard interface this backend can configure"
    )]
    NotWireguard { interface: String, kind: String },

    #[error("kernel WireGuard unavailable (probe link {probe}): {source}")]
    KernelUnavailable {
        probe: String,
        #[source]
        source: rtnetlink::Error,
    },

    #[error("userspace WireGuard unavailable: {binary} not found on PATH")]
    UserspaceUnavailable { binary: String },

    #[error("no WireGuard backend: kernel probe failed ({kernel}) and {binary} is not on PATH")]
    NoBackend { kernel: String, binary: String },

    #[error("{interface}: WireGuard {operation} ({backend}) failed: {source}")]
    Wireguard {
        interface: String,
        operation: &'static str,
        backend: crate::Backend,
        #[source]
        source: io::Error,
    },

    #[error("{interface}: starting {binary}: {source}")]
    Spawn {
        interface: String,
        binary: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "{interface}: UAPI socket {socket} did not answer within {waited:?}; wireguard-go said: {output}"
    )]
    SocketTimeout {
        interface: String,
        socket: PathBuf,
        waited: Duration,
        output: String,
    },

    #[error("{interface}: wireguard-go exited during startup ({status}); it said: {output}")]
    ChildExited {
        interface: String,
        status: String,
        output: String,
    },

    #[error(
        "{interface}: UAPI socket {socket} is served by a wireguard-go whose interface is not in this network namespace"
    )]
    ForeignSocket { interface: String, socket: PathBuf },

    #[error("{interface}: stopping wireguard-go (pid {pid}): {source}")]
    Stop {
        interface: String,
        pid: u32,
        #[source]
        source: io::Error,
    },

    #[error("{interface}: removing {path}: {source}")]
    RemoveSocket {
        interface: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{interface}: not managed by this TunnelManager")]
    NotManaged { interface: String },

    #[error("{interface}: already managed by this TunnelManager with the {existing} backend")]
    BackendMismatch {
        interface: String,
        existing: crate::Backend,
    },

    #[error("{interface}: supervisor task has stopped")]
    SupervisorGone { interface: String },
}

impl TunnelError {
    /// Whether the kernel refused for want of privilege (EPERM, or EACCES):
    /// the process lacks CAP_NET_ADMIN, so the caller can say so.
    pub fn permission_denied(&self) -> bool {
        let code =
            match self {
                TunnelError::Netlink { source, .. }
                | TunnelError::KernelUnavailable { source, .. } => errno(source),
                TunnelError::NetlinkSocket { source, .. }
                | TunnelError::Wireguard { source, .. } => source.raw_os_error(),
                _ => None,
            };
        matches!(code, Some(libc::EPERM | libc::EACCES))
    }

    pub(crate) fn netlink(
        interface: &str,
        operation: impl Into<String>,
        source: rtnetlink::Error,
    ) -> Self {
        TunnelError::Netlink {
            interface: interface.to_string(),
            operation: operation.into(),
            source,
        }
    }
}

/// The errno carried by a netlink NACK, if that is what `e` is.
pub(crate) fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}
