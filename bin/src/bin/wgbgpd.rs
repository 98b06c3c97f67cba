//! `wgbgpd --config FILE`: the routing daemon, in the foreground, logging to stderr.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wgbgp::cli::Daemon as Args;

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let checked = match wgbgp::host::load(&args.config) {
        Ok(checked) => checked,
        Err(e) => {
            eprintln!("wgbgpd: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A taken interface fails only that peer's tunnel (retried); said here.
    if let Some(taken) = wgbgp::host::warn_interfaces_in_use(&args.config, &checked.config) {
        eprintln!("wgbgpd: warning: {taken}");
    }
    if args.check {
        println!("configuration OK");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wgbgpd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(wgbgp::daemon::run(checked.config, checked.access)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = match permission_denied(&e) {
                true => format!("{e}\n{PRIVILEGE_HINT}"),
                false => e.to_string(),
            };
            tracing::error!("{message}");
            eprintln!("wgbgpd: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What to do when the kernel refused the start for want of privilege.
const PRIVILEGE_HINT: &str = "wgbgpd needs root, or the capabilities CAP_NET_ADMIN (tunnels, \
    addresses, routes, ip rules) and CAP_NET_BIND_SERVICE (BGP's TCP port 179); the shipped \
    unit wgbgpd.service grants them with AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE";

/// Whether the start failed because the kernel refused a netlink or
/// tunnel operation (EPERM), or the BGP port (EACCES): not privileged.
fn permission_denied(e: &wgbgp::daemon::StartError) -> bool {
    use wgbgp::daemon::StartError;
    match e {
        StartError::Tunnel(t) => t.permission_denied(),
        StartError::Io { source, .. } => {
            matches!(source.raw_os_error(), Some(libc::EPERM | libc::EACCES))
        }
        _ => false,
    }
}
