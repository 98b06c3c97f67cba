//! The command line of `wgbgpd`, in the library so that `wgbgp man` can
//! render its manual page from the same definition `--help` prints.

use std::path::PathBuf;

use clap::Parser;

/// eBGP speaker and WireGuard tunnel manager
///
/// One WireGuard interface per peer, eBGP over it loopback to loopback (or
/// to a plain neighbor), learned routes resolved recursively and installed
/// in the kernel.
///
/// Runs in the foreground and logs to stderr (RUST_LOG=debug for more).
/// SIGHUP re-reads the configuration and applies the difference; SIGTERM
/// sends a Cease to every peer, removes the routes and tunnels it created
/// and exits. Needs root, or CAP_NET_ADMIN and CAP_NET_BIND_SERVICE.
#[derive(Debug, Parser)]
#[command(
    name = "wgbgpd",
    version,
    after_help = "Files: /etc/wgbgp/wgbgp.yaml (configuration), \
/etc/wgbgp/private.key (WireGuard private key, generated if missing), /run/wgbgp/wgbgp.sock \
(control socket for wgbgp(1)). See also: wgbgp(1), wg(8), ip-route(8)."
)]
pub struct Daemon {
    /// The YAML configuration file.
    #[arg(short, long, default_value = "/etc/wgbgp/wgbgp.yaml")]
    pub config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    pub check: bool,
}
