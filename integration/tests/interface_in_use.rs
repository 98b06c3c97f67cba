//! `wgbgp config check` and `wgbgpd --check` against the interfaces of the
//! namespace they run in (issue 15, "Starting safely"): a peer's
//! `wireguard.interface` that exists as something other than WireGuard (a
//! veth here) is refused by `wgbgp config check`, naming the key and the
//! interface. `wgbgpd --check` (the unit's ExecStartPre) says the same as a
//! warning and passes: the daemon starts with that peer's tunnel failed and
//! retried, the others up (issue 17's isolation). An existing WireGuard
//! interface (wireguard-go, as one left by `keep_on_exit`) and a free name
//! pass both. A private key file of mode 0644, or one in a missing
//! directory, fails both.
//!
//! ```text
//!   netns wgt-…-ifuse
//!   +------------------------------------------------+
//!   | vuse-…a <-> vuse-…b  (veth pair)               |
//!   | wuse-…  (wireguard-go, one peer, no address)   |
//!   +------------------------------------------------+
//! ```

use std::ffi::OsString;
use std::process::Output;

use integration::wgbgpd::{cli_bin, daemon_bin};
use integration::{
    Config, Keys, Netns, Peer, TempDir, Tunnel, WgKey, WgPeer, WgPeerConfig, ifname, require_root,
};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn config_check_refuses_a_veth_a_readable_key_or_a_missing_key_directory_and_accepts_an_existing_wireguard_interface()
 {
    require_root();
    let ns = Netns::new("ifuse");
    let (veth, other) = (ifname("vuse"), ifname("vuse"));
    ns.exec(&[
        "ip", "link", "add", &veth, "type", "veth", "peer", "name", &other,
    ]);
    let keys = Keys::new();
    let (ours, theirs) = (WgKey::generate(), WgKey::generate());
    let key_file = keys.write("ours.key", &ours);
    let wg = WgPeer::start(
        &ns,
        "wuse",
        &WgPeerConfig {
            private_key: ours.private.clone(),
            peer_public_key: theirs.public.clone(),
            ..Default::default()
        },
    );
    let dir = TempDir::new("ifuse");
    // `wgbgp config check` (or `wgbgpd --check`) in the namespace, with the
    // peer's tunnel on `interface` and our key in `key`.
    let check_with = |daemon: bool, interface: &str, key: &str| -> Output {
        let yaml = Config::tunnel_node("10.77.0.1", 65001, key)
            .peer(Peer::new("p", 65002, "10.77.0.2").tunnel(Tunnel::new(&theirs.public, interface)))
            .accept_all("all")
            .render();
        let path = dir.write("wgbgp.yaml", &yaml);
        let args: Vec<OsString> = match daemon {
            false => vec![
                cli_bin().into(),
                "config".into(),
                "check".into(),
                path.into(),
            ],
            true => vec![
                daemon_bin().into(),
                "--check".into(),
                "--config".into(),
                path.into(),
            ],
        };
        ns.try_exec(&args)
    };
    let check = |daemon: bool, interface: &str| check_with(daemon, interface, &key_file);

    for daemon in [false, true] {
        let out = check(daemon, &veth);
        // The daemon's check warns only.
        let code = if daemon { 0 } else { 1 };
        assert_eq!(
            out.status.code(),
            Some(code),
            "daemon {daemon}: {}",
            text(&out.stdout)
        );
        let err = text(&out.stderr);
        let want = format!(
            "peers.p.wireguard.interface: interface `{veth}` exists on this host and is not a \
             WireGuard interface (it is a veth device)"
        );
        assert!(err.contains(&want), "daemon {daemon}: {err}");

        for fine in [wg.ifname(), "wuse-free0"] {
            let out = check(daemon, fine);
            assert!(
                out.status.success(),
                "daemon {daemon}, {fine}: {}",
                text(&out.stderr)
            );
            assert_eq!(text(&out.stdout), "configuration OK\n");
            assert!(
                !text(&out.stderr).contains("warning"),
                "{}",
                text(&out.stderr)
            );
        }
    }

    // What the start refuses, both checks refuse (exit 1, naming the key):
    // a private key others can read, and a key directory that is missing.
    use std::os::unix::fs::PermissionsExt;
    let mode = |m: u32| std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(m));
    mode(0o644).unwrap();
    let absent = keys.path().join("absent").join("ours.key");
    for (key, want) in [
        (key_file.as_str(), "(mode 0644): run chmod 600"),
        (absent.to_str().unwrap(), "does not exist"),
    ] {
        for daemon in [false, true] {
            let out = check_with(daemon, wg.ifname(), key);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "daemon {daemon}, {key}: {err}");
            assert!(
                err.contains("wireguard.private_key_file") && err.contains(want),
                "daemon {daemon}, {key}: {err}"
            );
        }
    }
    mode(0o600).unwrap();
    assert!(check(false, wg.ifname()).status.success());
}
