//! The configuration against this host: the system lookups that the pure
//! [`crate::config`] module leaves out.
//!
//! - `control_group` / `control_admin_group` are resolved to group ids
//!   (NSS, as `getent group` does) when the daemon starts, when it reloads,
//!   and by `wgbgpd --check` / `wgbgp config check`. A group that does not
//!   exist is refused there with the file, line and key, like any other
//!   configuration error.
//! - A peer's `wireguard.interface` that exists on this host as something
//!   other than a WireGuard interface (`eth0`, a veth) is refused there too,
//!   as the start would fail on it ([`interfaces`]); an existing WireGuard
//!   interface is fine (ours, left by `keep_on_exit`).
//! - Tunnel endpoints written as hostnames are resolved by DNS when a tunnel
//!   is made and when the daemon re-resolves them.

pub mod interfaces;

use std::io;
use std::net::SocketAddr;
use std::path::Path;

use thiserror::Error;

use crate::config::{Config, ConfigError, ControlGroups, Diagnostic, Endpoint, Problem};
use crate::control::{self, Access};

/// A configuration that validated and fits this host.
#[derive(Debug)]
pub struct Checked {
    pub config: Config,
    /// The control socket's groups, resolved to ids.
    pub access: Access,
}

/// Reads and validates `path` ([`Config::load`]), then checks it against
/// this host: what the daemon's start does before touching anything.
pub fn load(path: impl AsRef<Path>) -> Result<Checked, ConfigError> {
    let (config, src) = Config::load_with_source(path)?;
    let access = control_access(&config, &src)?;
    Ok(Checked { config, access })
}

/// [`load`], then [`interfaces_in_use`] as an error: `wgbgp config check`.
/// The daemon only warns of a taken interface (see [`warn_interfaces_in_use`]):
/// that peer's tunnel fails and is retried while the others run.
pub fn check(path: impl AsRef<Path>) -> Result<Checked, ConfigError> {
    let (config, src) = Config::load_with_source(path)?;
    let access = control_access(&config, &src);
    let in_use = interfaces_in_use(&config, &src);
    match (access, in_use) {
        (Ok(access), Ok(())) => Ok(Checked { config, access }),
        (Err(ConfigError::Invalid(mut a)), Err(ConfigError::Invalid(b))) => {
            a.extend(b);
            Err(ConfigError::Invalid(a))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// What [`interfaces_in_use`] finds, as a warning for `wgbgpd` (and
/// `wgbgpd --check`, the unit's ExecStartPre): the start does not fail on
/// it, so neither does the check.
pub fn warn_interfaces_in_use(path: impl AsRef<Path>, config: &Config) -> Option<String> {
    let src = std::fs::read_to_string(path).unwrap_or_default();
    interfaces_in_use(config, &src).err().map(|e| e.to_string())
}

/// Refuses each peer whose tunnel interface exists on this host and is
/// not a WireGuard interface: wgbgpd cannot make its tunnel there.
pub fn interfaces_in_use(config: &Config, src: &str) -> Result<(), ConfigError> {
    use interfaces::Existing;
    let mut problems = Vec::new();
    for (name, peer) in &config.peers {
        let Some(ifname) = peer.interface() else {
            continue;
        };
        let Existing::Other(kind) = interfaces::existing(ifname) else {
            continue;
        };
        // A defaulted name (wg-<peer>) is reported at `wireguard:`.
        let key = format!("peers.{name}.wireguard.interface");
        let name = ifname.to_string();
        let problem = Problem::InterfaceInUse { name, kind };
        problems.push(Diagnostic::at(&config.path, src, &key, problem));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// Resolves the control groups of `config` (whose text is `src`, for the
/// lines of errors). Every group that does not exist is reported.
pub fn control_access(config: &Config, src: &str) -> Result<Access, ConfigError> {
    let mut problems = Vec::new();
    let mut gid = |key: &str, name: Option<&crate::config::GroupName>| {
        let name = name?;
        let id = control::group_id(name.as_str());
        if id.is_none() {
            let problem = Problem::NoSuchGroup { name: name.clone() };
            problems.push(Diagnostic::at(&config.path, src, key, problem));
        }
        id
    };
    let ControlGroups { group, admin_group } = &config.control_groups;
    let access = Access {
        group: gid("control_group", group.as_ref()),
        admin_group: gid("control_admin_group", admin_group.as_ref()),
    };
    if problems.is_empty() {
        Ok(access)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// Resolves a tunnel endpoint (DNS for a hostname; the first answer wins).
pub async fn resolve_endpoint(endpoint: &Endpoint) -> io::Result<SocketAddr> {
    match endpoint {
        Endpoint::Addr(sa) => Ok(*sa),
        Endpoint::Host { host, port } => tokio::net::lookup_host((host.as_str(), *port))
            .await?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"))),
    }
}

/// Failure to resolve one peer's endpoint.
#[derive(Debug, Error)]
#[error("peers.{peer}.wireguard.endpoint: cannot resolve {endpoint}: {source}")]
pub struct ResolveError {
    pub peer: String,
    pub endpoint: String,
    #[source]
    pub source: io::Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    const S1: &str = include_str!("../tests/data/s1.yaml");
    const SOCKET: &str = "control_socket: /run/wgbgp/wgbgp.sock";

    /// S1 with `lines` after its `control_socket:` line, written to a
    /// temporary file (kept alive by the returned directory).
    fn s1_with(lines: &str) -> (tempfile::TempDir, std::path::PathBuf, String) {
        assert_eq!(S1.matches(SOCKET).count(), 1);
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("private.key");
        let src = S1
            .replacen(SOCKET, &format!("{SOCKET}\n{lines}"), 1)
            .replace("/etc/wgbgp/private.key", key.to_str().unwrap());
        let path = dir.path().join("s1.yaml");
        std::fs::write(&path, &src).unwrap();
        (dir, path, src)
    }

    fn line_of(src: &str, text: &str) -> usize {
        src.lines().position(|l| l.contains(text)).unwrap() + 1
    }

    #[test]
    fn existing_groups_resolve_to_their_ids() {
        let (_dir, path, _) = s1_with("control_group: root\ncontrol_admin_group: root");
        let checked = load(&path).unwrap();
        let expected = Access {
            group: Some(0),
            admin_group: Some(0),
        };
        assert_eq!(checked.access, expected);
        let (_dir, path, _) = s1_with("");
        assert_eq!(load(&path).unwrap().access, Access::default());
    }

    #[test]
    fn missing_group_passes_validation_but_not_the_host_check() {
        let (_dir, path, src) =
            s1_with("control_group: no-such-group-wgbgp\ncontrol_admin_group: root");
        // Validation does no lookups: the name is all it sees.
        let cfg = Config::from_str(&src, &path).unwrap();
        assert_eq!(
            cfg.control_groups.group.as_ref().map(|g| g.as_str()),
            Some("no-such-group-wgbgp")
        );
        assert!(Config::load(&path).is_ok());
        // The host check refuses it, naming file, line and key.
        let msg = load(&path).unwrap_err().to_string();
        let line = line_of(&src, "control_group: no-such-group-wgbgp");
        assert_eq!(
            msg,
            format!(
                "{}:{line}: control_group: no group `no-such-group-wgbgp` on this system",
                path.display()
            )
        );
    }

    #[test]
    fn every_missing_group_is_reported() {
        let (_dir, path, src) =
            s1_with("control_group: no-such-group-a\ncontrol_admin_group: no-such-group-b");
        let ConfigError::Invalid(d) = load(&path).unwrap_err() else {
            panic!("expected Invalid")
        };
        let found: Vec<_> = d.iter().map(|d| (d.line, d.key.as_str())).collect();
        assert_eq!(
            found,
            [
                (Some(line_of(&src, "no-such-group-a")), "control_group"),
                (
                    Some(line_of(&src, "no-such-group-b")),
                    "control_admin_group"
                ),
            ]
        );
    }

    #[tokio::test]
    async fn endpoints_resolve_addresses_and_localhost() {
        let addr = Endpoint::parse("10.2.0.2:51820").unwrap();
        assert_eq!(
            resolve_endpoint(&addr).await.unwrap(),
            "10.2.0.2:51820".parse().unwrap()
        );
        let host = Endpoint::parse("localhost:51820").unwrap();
        let sa = resolve_endpoint(&host).await.unwrap();
        assert!(sa.ip().is_loopback());
        assert_eq!(sa.port(), 51820);
    }
}
