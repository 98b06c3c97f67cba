//! The Debian package (`scripts/deb.sh`) installed with `dpkg -i` into a
//! throwaway root: an overlay of this machine's `/` in a private mount
//! namespace, so nothing of it reaches the host. Shows what an FRR user gets
//! from `apt install frr`: the binaries, a unit with its capabilities, a
//! group for the control socket, an example configuration that passes
//! `wgbgpd --check`, man pages and completions; and that removal keeps the
//! configuration while purge takes it and the group away.
//!
//! ```text
//!   host /  ──lowerdir──▶ overlay ◀──upperdir── tmpfs (dies with the namespace)
//!                            │
//!                    chroot: dpkg -i wgbgp_*.deb; wgbgpd --check; dpkg -P
//! ```

use std::path::PathBuf;
use std::process::{Command, Stdio};

use integration::{TempDir, require_root};

/// The newest `wgbgp_*.deb` that scripts/deb.sh left (scripts/test.sh runs
/// it first), or `$WGBGP_DEB`.
fn package() -> PathBuf {
    if let Some(p) = std::env::var_os("WGBGP_DEB") {
        return PathBuf::from(p);
    }
    let mut dirs = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(PathBuf::from(t).join("debian"));
    }
    dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debian"));
    let found = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("wgbgp_") && n.ends_with(".deb"))
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    found.unwrap_or_else(|| {
        panic!(
            "no wgbgp_*.deb in {}: build it with `bash scripts/deb.sh` (scripts/test.sh does)",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// Sets up the overlay root and runs `inside` in it with `sh -e`; the
/// mounts belong to the `unshare` namespace and go when it exits.
const OVERLAY: &str = r#"
set -eu
top=$1 deb=$2 inside=$3
mount -t tmpfs tmpfs "$top"
mkdir "$top/upper" "$top/work" "$top/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$top/upper,workdir=$top/work" "$top/root"
r=$top/root
mount -t proc proc "$r/proc"
mount --bind /dev "$r/dev"
mount -t tmpfs tmpfs "$r/run"
mount -t tmpfs tmpfs "$r/tmp"
cp "$deb" "$r/tmp/wgbgp.deb"
cp "$inside" "$r/tmp/inside.sh"
chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive sh -e /tmp/inside.sh
"#;

/// Each check prints `== name` and its output.
const INSIDE: &str = r#"
echo "== fresh"; dpkg -s wgbgp >/dev/null 2>&1 && echo installed || echo absent
echo "== install"; dpkg -i /tmp/wgbgp.deb >/dev/null && echo ok
echo "== group"; getent group wgbgp | cut -d: -f1
echo "== daemon check"; /usr/sbin/wgbgpd --config /etc/wgbgp/wgbgp.yaml --check
echo "== cli check"; wgbgp config check /etc/wgbgp/wgbgp.yaml
echo "== modes"; stat -c '%n %a %U:%G' /etc/wgbgp /etc/wgbgp/wgbgp.yaml
echo "== unit"; grep -E '^(ExecStartPre|ExecStart|AmbientCapabilities|LimitNOFILE)=' /usr/lib/systemd/system/wgbgpd.service
echo "== enabled"; ls /etc/systemd/system/multi-user.target.wants/wgbgpd.service 2>/dev/null || echo no
echo "== man"; zcat /usr/share/man/man8/wgbgpd.8.gz | grep -A1 '^.SH NAME' | tail -1
zcat /usr/share/man/man1/wgbgp-show-bgp-summary.1.gz | grep -A1 '^.SH NAME' | tail -1
echo "== completion"; bash -c '. /usr/share/bash-completion/completions/wgbgp; complete -p wgbgp'
test -s /usr/share/zsh/vendor-completions/_wgbgp && test -s /usr/share/fish/vendor_completions.d/wgbgp.fish && echo zsh fish
echo "== remove"; dpkg -r wgbgp >/dev/null
test -e /usr/sbin/wgbgpd && echo binary kept || echo binary gone
test -e /etc/wgbgp/wgbgp.yaml && echo config kept || echo config gone
echo "== purge"; dpkg -P wgbgp >/dev/null
test -e /etc/wgbgp/wgbgp.yaml && echo config kept || echo config gone
getent group wgbgp >/dev/null && echo group kept || echo group gone
echo "== end"
"#;

/// The lines after `== name` up to the next `==`.
fn section<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    out.lines()
        .skip_while(|l| *l != format!("== {name}"))
        .skip(1)
        .take_while(|l| !l.starts_with("== "))
        .collect()
}

#[test]
fn dpkg_installs_a_package_that_checks_its_example_config_and_purges_cleanly() {
    require_root();
    let deb = package();
    let host_had_config = std::path::Path::new("/etc/wgbgp/wgbgp.yaml").exists();
    let dir = TempDir::new("deb");
    let top = dir.path().join("overlay");
    std::fs::create_dir(&top).unwrap();
    let overlay = dir.path().join("overlay.sh");
    let inside = dir.path().join("inside.sh");
    std::fs::write(&overlay, OVERLAY).unwrap();
    std::fs::write(&inside, INSIDE).unwrap();

    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh"])
        .arg(&overlay)
        .arg(&top)
        .arg(&deb)
        .arg(&inside)
        .stdin(Stdio::null())
        .output()
        .expect("running unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "install in the overlay root failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let s = |name| section(&stdout, name);
    assert_eq!(s("fresh"), ["absent"], "{stdout}");
    assert_eq!(s("install"), ["ok"]);
    assert_eq!(s("group"), ["wgbgp"]);
    assert_eq!(s("daemon check"), ["configuration OK"]);
    assert_eq!(s("cli check"), ["configuration OK"]);
    assert_eq!(
        s("modes"),
        [
            "/etc/wgbgp 750 root:wgbgp",
            "/etc/wgbgp/wgbgp.yaml 640 root:wgbgp"
        ]
    );
    let unit = s("unit");
    for want in [
        "ExecStartPre=/usr/bin/wgbgp config check /etc/wgbgp/wgbgp.yaml",
        "ExecStart=/usr/sbin/wgbgpd --config /etc/wgbgp/wgbgp.yaml",
        "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE",
        "LimitNOFILE=1048576",
    ] {
        assert!(unit.contains(&want), "unit lacks `{want}`: {unit:?}");
    }
    // Installed, not started: the example peers with no one.
    assert_eq!(s("enabled"), ["no"]);
    let man = s("man");
    assert!(man[0].starts_with("wgbgpd"), "{man:?}");
    assert!(
        man[1].starts_with("wgbgp\\-show\\-bgp\\-summary"),
        "{man:?}"
    );
    let completion = s("completion");
    assert!(
        completion[0].starts_with("complete ")
            && completion[0].contains("-F _wgbgp")
            && completion[0].ends_with(" wgbgp"),
        "{completion:?}"
    );
    assert_eq!(completion[1], "zsh fish");
    assert_eq!(s("remove"), ["binary gone", "config kept"]);
    assert_eq!(s("purge"), ["config gone", "group gone"]);
    assert_eq!(s("end"), Vec::<&str>::new());

    // The host saw none of it.
    assert_eq!(
        std::path::Path::new("/etc/wgbgp/wgbgp.yaml").exists(),
        host_had_config
    );
    let host = Command::new("dpkg")
        .args(["-s", "wgbgp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!host.success(), "wgbgp got installed on the host");
}
